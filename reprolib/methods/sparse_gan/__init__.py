"""Sparse-GAN (Zhou et al., ISBI 2020), re-implemented from its paper (no public code)."""
