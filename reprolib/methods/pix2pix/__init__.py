"""pix2pix (Isola et al., CVPR 2017) as an anomaly detector: a conditional GAN reconstructing
its input."""
