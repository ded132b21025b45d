"""The experiments, one package per paper and one folder per experiment (see :mod:`ltpipe.registry`)."""

from __future__ import annotations

import importlib
from typing import Any

from ltpipe.config import ConfigError


def study_function(study: str, exp: str, module: str, name: str) -> Any:
    """``name`` of ``ltpipe.studies.<study>.<exp>.<module>``: how the figure and claims drivers find an
    experiment's code. A missing module or function is a :class:`~ltpipe.config.ConfigError` naming it."""
    dotted = f"ltpipe.studies.{study}.{exp}.{module}"
    try:
        mod = importlib.import_module(dotted)
    except ModuleNotFoundError as err:
        if err.name is None or not dotted.startswith(err.name):
            raise
        raise ConfigError(f"no module {dotted} (is {study}/{exp} an experiment's folder?)") from None
    try:
        return getattr(mod, name)
    except AttributeError:
        raise ConfigError(f"{dotted} has no function {name}") from None
