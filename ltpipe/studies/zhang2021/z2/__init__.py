"""Z2: the local convex region, AGD's success over (sqrt r, initial distance lambda) (Zhang et al. 2021,
Fig. 2, Theorem 1)."""
