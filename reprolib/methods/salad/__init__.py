"""SALAD (Zhao et al., TMI 2021), re-implemented from the paper description (no public code)."""
