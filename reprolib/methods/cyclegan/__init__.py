"""CycleGAN (Zhu et al., ICCV 2017) between images and their proxies, scored by reconstruction
error."""
