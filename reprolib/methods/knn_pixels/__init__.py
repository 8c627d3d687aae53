"""Label-free floor: distance to the nearest training normal on standardised pixels."""
