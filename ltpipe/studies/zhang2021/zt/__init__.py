"""ZT: Algorithm 1's tensor initialisation (Zhang et al. 2021, Sec. 4, Lemma 1), and AGD from it; beyond the
paper's experiments, which start from a ball."""
