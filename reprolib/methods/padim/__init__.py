"""PaDiM (Defard et al., ICPR 2021): a Gaussian per feature-map location (issue 15)."""
