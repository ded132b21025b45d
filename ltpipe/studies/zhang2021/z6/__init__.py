"""Z6: iterative magnitude pruning of a dense student trained by AGD on the sparse teacher (Zhang et al. 2021,
Fig. 6)."""
