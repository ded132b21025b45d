"""MW: weight-subnetworks, each target weight one product of random weights (Malach et al. 2020, Theorem 2.1,
Lemma A.1), built on PC's random networks by PC's jobs."""
