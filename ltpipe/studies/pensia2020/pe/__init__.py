"""PE: edge-popup on random networks, Fig. 1c's structure against a wide network and the trained baseline
(Pensia et al. 2020, Experiment 2, Fig. 2a-c)."""
