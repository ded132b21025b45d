"""PL: random subset sum, n = O(log 1/eps) coefficients suffice (Pensia et al. 2020, Theorem 3 and Corollary 2,
after Lueker)."""
