"""PC: the subset-sum construction (Pensia et al. 2020, Lemma 1-3, Theorem 1) built as real pruned networks,
beside Malach et al. 2020's single-product construction (MW) on the same random networks."""
