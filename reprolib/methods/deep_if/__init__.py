"""Deep-IF (Ouardini et al., MICCAI 2019 workshop): ImageNet features + IsolationForest, a
baseline of MDFSC's Table 1."""
