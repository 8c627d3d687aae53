"""f-AnoGAN (Schlegl et al., MedIA 2019): WGAN-GP plus an izi_f encoder for fast mapping."""
