"""STFPM (Wang et al., BMVC 2021): student-teacher feature pyramid matching (own implementation)."""
