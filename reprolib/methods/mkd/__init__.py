"""MKD (Salehi et al., CVPR 2021): multiresolution knowledge distillation from VGG16."""
