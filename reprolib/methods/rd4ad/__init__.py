"""RD4AD (Deng & Li, CVPR 2022): reverse distillation from a one-class embedding."""
