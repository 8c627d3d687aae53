"""Convolutional variational autoencoder baseline (Hetero-AE Table I "VAE", ref. [43])."""
