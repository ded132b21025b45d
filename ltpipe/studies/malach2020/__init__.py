"""Malach et al. 2020, *Proving the Lottery Ticket Hypothesis: Pruning is All You Need* (ICML 2020): MW
(weight-subnetworks by single random weights, built beside Pensia et al.'s PC) and MN (neuron-subnetworks
against random features)."""
