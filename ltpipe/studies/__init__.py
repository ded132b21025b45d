"""The experiments, one package per paper, one module per experiment plus that paper's figures and claims."""

from __future__ import annotations

import importlib
from typing import Any


def study_function(study: str, module: str, name: str) -> Any:
    """``name`` of ``ltpipe.studies.<study>.<module>`` (how the figure and claims drivers find a study's code)."""
    mod = importlib.import_module(f"ltpipe.studies.{study}.{module}")
    try:
        return getattr(mod, name)
    except AttributeError:
        raise SystemExit(f"{mod.__name__} has no function {name}") from None
