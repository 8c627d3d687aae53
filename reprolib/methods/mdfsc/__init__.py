"""MDFSC: multi-scale deep feature sparse coding on a VGG16 autoencoder (retinal anomalies)."""
