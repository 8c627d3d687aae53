"""reprolib: a thin library behind the notebooks that reproduce five medical anomaly-detection
papers (AnoGAN, ProxyAno, Hetero-AE, ReSynthDetect, MDFSC) on one protocol."""

__version__ = "0.1.0"
