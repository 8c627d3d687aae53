"""Label-free floor: distance of an image's mean intensity from that of the training normals."""
