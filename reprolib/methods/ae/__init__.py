"""Plain convolutional autoencoder baseline (Hetero-AE Table I "AE", ref. [42])."""
