"""Hetero-AE (Lu et al., TIP 2024): ResNet encoder, hybrid CNN-Transformer decoder."""
