"""Zhang et al. 2021, *Why Lottery Ticket Wins? A Theoretical Perspective of Sample Complexity on Sparse
Neural Networks* (NeurIPS 2021): Z2-Z5 (AGD trials), Z6 (IMP on the teacher), Z7 (IMP on MNIST)."""
