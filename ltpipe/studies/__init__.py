"""The experiments, one package per paper, one module per experiment plus that paper's figures and claims."""
