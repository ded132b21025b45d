"""Z4: sample complexity, AGD's success over (r, N) and the N needed (Zhang et al. 2021, Fig. 4, eq. 8)."""
