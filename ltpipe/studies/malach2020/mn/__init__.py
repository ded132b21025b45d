"""MN: neuron-subnetworks by Remark 3.5's algorithm against random features (Malach et al. 2020, Theorem 3.2,
Theorem 3.3)."""
