"""Lesion2Void (Huang, Huang, Luo, Tang, ISBI 2022): blind-spot reconstruction of masked
patches of normal fundus images; a baseline of ReSynthDetect (Table 1)."""
