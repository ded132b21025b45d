"""ltpipe: the lottery-ticket experiments of Zhang et al. 2021, Pensia et al. 2020 and Malach et al. 2020."""

__version__ = "0.1.0"
