"""WDMT-Net (Zhang et al., MICCAI 2022): weight-decay skip connections and a HOG-prediction
auxiliary task; a baseline of ReSynthDetect (Table 2, "WNet")."""
