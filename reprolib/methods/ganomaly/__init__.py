"""GANomaly (Akcay et al., ACCV 2018): encoder-decoder-encoder GAN scored in latent space."""
