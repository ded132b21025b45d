"""The config schema: shipped configs pass, bad values are refused naming the key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from ltpipe.config import ConfigError, resolve_device, validate

ROOT = Path(__file__).resolve().parent.parent


def load(name):
    return yaml.safe_load((ROOT / "config" / name).read_text())


@pytest.mark.parametrize("name", ["config.yaml", "paper.yaml"])
def test_shipped_configs_are_valid(name):
    validate(load(name))


def test_tiny_test_config_is_valid():
    validate(yaml.safe_load((ROOT / "tests" / "tiny.yaml").read_text()))


@pytest.mark.parametrize(
    ("path", "value", "needle"),
    [
        (("zhang2021", "z3", "trials"), -1, "zhang2021.z3.trials: -1 is less than the minimum of 1"),
        (("zhang2021", "z3", "trials"), "ten", "zhang2021.z3.trials: 'ten' is not of type 'integer'"),
        (("zhang2021", "z2", "eta"), 0, "zhang2021.z2.eta"),
        (("zhang2021", "z2", "lam"), [0.5], "zhang2021.z2.lam"),
        (("zhang2021", "z4", "beta"), 1.5, "zhang2021.z4.beta"),
        (("device",), "tpu", "device: 'tpu' is not one of"),
        (("zhang2021", "z5", "plot", "dpi"), 0, "zhang2021.z5.plot.dpi"),
    ],
)
def test_bad_values_are_refused_with_their_path(path, value, needle):
    cfg = copy.deepcopy(load("config.yaml"))
    node = cfg
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    assert needle in str(err.value)


def test_unknown_key_is_named():
    cfg = load("config.yaml")
    cfg["zhang2021"]["z3"]["trails"] = 3
    with pytest.raises(ConfigError, match=r"zhang2021\.z3\.trails: unknown key"):
        validate(cfg)


def test_missing_key_is_named():
    cfg = load("config.yaml")
    del cfg["zhang2021"]["z4"]["max_iter"]
    with pytest.raises(ConfigError, match=r"zhang2021\.z4\.max_iter"):
        validate(cfg)


def test_device_resolution():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda")
