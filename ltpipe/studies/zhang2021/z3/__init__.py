"""Z3: linear convergence and its rate nu against sqrt r, GD against AGD (Zhang et al. 2021, Fig. 3a and 3b,
Theorem 2)."""
