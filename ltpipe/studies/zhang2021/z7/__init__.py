"""Z7: iterative magnitude pruning of LeNet-5 on MNIST, with Frankle & Carbin's controls (Zhang et al. 2021,
Sec. 5.2, Fig. 7)."""
