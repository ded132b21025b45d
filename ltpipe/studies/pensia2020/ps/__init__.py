"""PS: a trained network's weights as exact subset sums of random coefficients (Pensia et al. 2020,
Experiment 1)."""
