"""Deep-Geo / GEOM (Golan & El-Yaniv, "Deep Anomaly Detection Using Geometric Transformations",
NeurIPS 2018), a baseline of MDFSC's Table 1."""
