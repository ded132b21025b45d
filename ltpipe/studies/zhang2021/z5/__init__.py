"""Z5: noisy measurements, the final error against sqrt r per noise level (Zhang et al. 2021, Fig. 5,
eq. 9)."""
