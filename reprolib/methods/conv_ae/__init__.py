"""Reference method: a plain convolutional autoencoder scored by reconstruction error."""
