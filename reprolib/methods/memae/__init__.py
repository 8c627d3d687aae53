"""MemAE (Gong et al., ICCV 2019): a convolutional autoencoder with a softmax-addressed memory."""
