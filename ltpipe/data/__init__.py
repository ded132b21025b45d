"""Data nodes: MNIST (files, subsets), the sparse teachers and their Gaussian data, trial grids."""
