"""Label-free floor: reconstruction error of a PCA of the training normals' pixels."""
