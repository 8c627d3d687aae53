"""AnoGAN (Schlegl et al., IPMI 2017): DCGAN, latent mapping, A/R/D scores; GAN_R, aCAE, P_D."""
