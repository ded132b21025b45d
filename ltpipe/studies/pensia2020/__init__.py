"""Pensia et al. 2020, *Optimal Lottery Tickets via SubsetSum* (NeurIPS 2020): PL (random subset sum),
PS (a trained network's weights as subset sums), PE (edge-popup on random networks), PC (the subset-sum
construction as real pruned networks, beside Malach et al.'s)."""
