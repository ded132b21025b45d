"""The config schema: shipped configs pass, bad values are refused naming the key."""

from __future__ import annotations

import copy
import platform
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ltpipe.config import ConfigError, resolve_device
from ltpipe.schema import validate

ROOT = Path(__file__).resolve().parent.parent


def load(name):
    return yaml.safe_load((ROOT / "config" / name).read_text())


@pytest.mark.parametrize("name", ["config.yaml", "paper.yaml"])
def test_shipped_configs_are_valid(name):
    validate(load(name))


def test_tiny_test_config_is_valid():
    validate(yaml.safe_load((ROOT / ".test" / "config" / "config.yaml").read_text()))


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
        # strings (as nested --config values arrive) that do not convert to the schema type
        (
            ("data", "mnist", "verify_checksums"),
            "maybe",
            "data.mnist.verify_checksums: 'maybe' is not of type 'boolean'",
        ),
        (("data", "mnist", "download"), "[1, 2]", "data.mnist.download"),
        (("zhang2021", "z6", "rate"), "fast", "zhang2021.z6.rate: 'fast' is not of type 'number'"),
        (("zhang2021", "z6", "rate"), "null", "zhang2021.z6.rate: None is not of type 'number'"),
        (("zhang2021", "z6", "rate"), "1.5", "zhang2021.z6.rate: 1.5 is greater than or equal to the maximum of 1"),
        (
            ("pensia2020", "pe", "keep"),
            {"fc2": [0.0, 0.5], "lenet5": [0.5]},
            "pensia2020.pe.keep.fc2.0: 0.0 is less than or equal to the minimum",
        ),
        (("pensia2020", "pe", "keep"), {"fc2": [0.5]}, "pensia2020.pe.keep: no value for network lenet5"),
        (("pensia2020", "pe", "variants"), ["dense"], "pensia2020.pe.variants.0: 'dense' is not one of"),
        (("pensia2020", "pe", "lr"), {"fc2": 0.1, "fc4": 0.1}, "pensia2020.pe.lr: no value for network lenet5"),
        (("pensia2020", "pe", "epochs"), {"fc2": [1], "fc4": [1]}, "pensia2020.pe.epochs: no value for network lenet5"),
    ],
)
def test_bad_values_are_refused_with_their_path(path, value, needle):
    """Wrong values, and strings that do not convert to the schema's type, are refused naming their key."""
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


def test_nested_strings_are_converted_to_the_schema_types():
    cfg = load("config.yaml")
    cfg["data"]["mnist"]["verify_checksums"] = "false"
    cfg["data"]["mnist"]["download"] = "true"
    cfg["data"]["mnist"]["root"] = "null"
    cfg["zhang2021"]["z6"]["rate"] = "0.3"
    cfg["zhang2021"]["z6"]["rounds"] = "5"
    cfg["zhang2021"]["z6"]["n_samples"] = ["100", "200"]
    cfg["pensia2020"]["ps"]["n_samples"] = "200"
    cfg["pensia2020"]["ps"]["sparsest"] = "false"
    cfg["pensia2020"]["ps"]["plot"]["dpi"] = "150"
    validate(cfg)
    mnist = cfg["data"]["mnist"]
    assert mnist["verify_checksums"] is False and mnist["download"] is True and mnist["root"] is None
    z6 = cfg["zhang2021"]["z6"]
    assert z6["rate"] == 0.3 and isinstance(z6["rate"], float)
    assert z6["rounds"] == 5 and isinstance(z6["rounds"], int)
    assert z6["n_samples"] == [100, 200]
    ps = cfg["pensia2020"]["ps"]
    assert ps["n_samples"] == 200 and ps["sparsest"] is False and ps["plot"]["dpi"] == 150


def test_null_for_a_nullable_number_is_converted():
    cfg = load("config.yaml")
    cfg["pensia2020"]["ps"]["n_samples"] = "null"
    validate(cfg)
    assert cfg["pensia2020"]["ps"]["n_samples"] is None


@pytest.mark.parametrize("root", ["123", "true", "1.5", "/data/mnist", "~"])
def test_strings_for_string_keys_stay_strings(root):
    cfg = load("config.yaml")
    cfg["data"]["mnist"]["root"] = root
    cfg["zhang2021"]["z5"]["plot"]["title"] = "0.5"
    validate(cfg)
    assert cfg["data"]["mnist"]["root"] == root
    assert cfg["zhang2021"]["z5"]["plot"]["title"] == "0.5"


def test_enum_strings_are_left_alone():
    cfg = load("config.yaml")
    cfg["device"] = "cpu"
    cfg["pensia2020"]["ps"]["coefficients"] = "per_row"
    validate(cfg)
    assert cfg["device"] == "cpu" and cfg["pensia2020"]["ps"]["coefficients"] == "per_row"


@pytest.mark.parametrize(("value", "expected"), [("1e-8", 1e-8), ("1E-8", 1e-8), ("5e-4", 5e-4), ("1.0e-8", 1e-8)])
def test_exponent_strings_are_numbers(value, expected):
    # JSON writes 1e-8 without a dot; a nested --config value arrives as that text
    cfg = load("config.yaml")
    cfg["zhang2021"]["z6"]["tol"] = value
    validate(cfg)
    assert cfg["zhang2021"]["z6"]["tol"] == expected


def test_nested_command_line_config_as_snakemake_parses_it():
    from snakemake.cli import parse_config
    from snakemake.utils import update_config

    cfg = load("config.yaml")
    given = parse_config(
        [
            'data={"mnist": {"root": null, "verify_checksums": false, "download": false}}',
            'pensia2020={"ps": {"n_samples": 1000, "weight_decay": 0.0005, "sparsest": false}}',
        ]
    )
    assert given["data"]["mnist"]["verify_checksums"] == "false"  # Snakemake hands the value over as text
    update_config(cfg, given)
    validate(cfg)
    assert cfg["data"]["mnist"] == {"root": None, "verify_checksums": False, "download": False}
    ps = cfg["pensia2020"]["ps"]
    assert ps["n_samples"] == 1000 and ps["weight_decay"] == 0.0005 and ps["sparsest"] is False


def test_nested_command_line_exponent_as_snakemake_parses_it():
    from snakemake.cli import parse_config
    from snakemake.utils import update_config

    cfg = load("config.yaml")
    update_config(cfg, parse_config(['pensia2020={"ps": {"weight_decay": 5e-4, "lr": 1e-1}}']))
    validate(cfg)
    assert cfg["pensia2020"]["ps"]["weight_decay"] == 5e-4 and cfg["pensia2020"]["ps"]["lr"] == 0.1


def test_device_cuda_without_a_gpu_stops_and_auto_falls_back_with_a_warning(monkeypatch, caplog):
    monkeypatch.setattr("ltpipe.config.cuda_present", lambda: False)
    with pytest.raises(ConfigError, match="no CUDA device is available"):
        resolve_device("cuda", 1)
    with caplog.at_level("WARNING"):
        assert resolve_device("auto", 0) == "cpu"
    assert not caplog.records  # a job not declared with a GPU says nothing
    with caplog.at_level("WARNING"):
        assert resolve_device("auto", 1) == "cpu"
    assert "declared with gpu=1" in caplog.text
    monkeypatch.setattr("ltpipe.config.cuda_present", lambda: True)
    assert resolve_device("auto", 1) == "cuda" and resolve_device("cpu", 1) == "cpu"
    with pytest.raises(ConfigError, match="must be auto, cpu or cuda"):
        resolve_device("gpu")


def test_a_job_stopped_by_its_device_setting_exits_with_the_message(monkeypatch, capsys, tmp_path):
    from ltpipe.cli import main

    monkeypatch.setattr("ltpipe.config.cuda_present", lambda: False)
    out = tmp_path / "x.parquet"
    args = ["--config", "{}", "--device", "cuda", "--gpus", "1", "--seed", "0", "--out", str(out)]
    code = main(["pl-trials", *args])
    assert code == 2 and not out.exists()
    assert "no CUDA device is available" in capsys.readouterr().err


def test_gpu_jobs_on_one_host_each_hold_their_own_gpu(tmp_path, caplog):
    import ltpipe.config as c

    held = len(c._HELD)
    assert c.claim_gpu(1, tmp_path) == 0  # one device (or Slurm's one visible GPU): nothing to claim
    assert len(c._HELD) == held
    assert [c.claim_gpu(3, tmp_path) for _ in range(3)] == [0, 1, 2]
    with caplog.at_level("WARNING"):
        shared = c.claim_gpu(3, tmp_path)  # a fourth job on three GPUs shares one, and says so
    assert 0 <= shared < 3 and "sharing GPU" in caplog.text
    c._HELD.pop(held + 1).close()  # the job on GPU 1 ends: its slot is free again
    assert c.claim_gpu(3, tmp_path) == 1
    while len(c._HELD) > held:
        c._HELD.pop().close()
    assert c.claim_gpu(3, tmp_path) == 0
    c._HELD.pop().close()


def test_config_readme_documents_every_key_at_both_scales_and_is_up_to_date():
    import runpy

    doc = runpy.run_path(str(ROOT / "scripts" / "config_readme.py"))
    text = (ROOT / "config" / "README.md").read_text()
    assert text == doc["render"](), "config/README.md is out of date: run python scripts/config_readme.py"

    def leaves(d, path=""):
        for k, v in d.items():
            p = f"{path}.{k}" if path else k
            yield from leaves(v, p) if isinstance(v, dict) else [p]

    default, paper = load("config.yaml"), load("paper.yaml")
    rows = {line.split("`")[1]: line for line in text.splitlines() if line.startswith("| `")}
    for key in leaves(default):
        assert key in rows, key
        cells = [c.strip() for c in rows[key].strip("|").split(" | ")]
        assert cells[1], f"{key} has no meaning"  # every key says what it is
        assert len(cells) == 4, key
    assert set(leaves(paper)) == set(leaves(default))
    assert "`[15, 45]`" in rows["pensia2020.pe.epochs.lenet5"]  # a value from each scale, hand-checked
    assert str(paper["zhang2021"]["z2"]["d"]) in rows["zhang2021.z2.d"]


FREE_AND_ALLOCATE = """
import resource, sys
from ltpipe.config import start_job
import argparse, torch
if sys.argv[1] == "job":
    start_job(argparse.Namespace(threads=1, device="cpu", gpus=0, config="{}"))
def step():  # a training step's pattern: fresh multi-MB buffers, all freed at its end
    bufs = [torch.ones(1_750_000) for _ in range(12)]  # 7 MB each
    return float(sum(b[-1] for b in bufs))
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 20)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="keep_freed_memory tunes glibc's allocator only")
def test_a_job_keeps_freed_memory_so_steps_do_not_touch_new_pages():
    def faults(mode):
        out = subprocess.run(
            [sys.executable, "-c", FREE_AND_ALLOCATE, mode], capture_output=True, text=True, check=True, cwd=ROOT
        )
        return int(out.stdout)

    # 12 buffers of 7 MB are 20,500 pages: glibc's defaults hand them back to the kernel at each free, so each
    # step faults them in again (20,477 faults a step here); a job's process keeps them (170-1,025: the heap
    # creeps up as small objects settle between the blocks)
    plain, job = faults("plain"), faults("job")
    assert 10 * job < plain
