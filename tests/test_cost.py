"""The cost model (ltpipe/cost.py), its calibration and check (bench/), `ltpipe estimate`, and the resources the
workflow asks for from it."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import ROOT, make_copy, snakemake

from ltpipe import cost, workload
from ltpipe.cli import main as cli
from ltpipe.config import ConfigError

sys.path.insert(0, str(ROOT / "bench"))
import calibrate
import check_costs

TINY = ROOT / ".test" / "config" / "config.yaml"
CONFIGS = [ROOT / "config" / "config.yaml", ROOT / "config" / "paper.yaml", TINY, ROOT / "bench" / "calibration.yaml"]
FULL = {"train": 60000, "test": 10000}


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def units_for(kinds: dict[str, float], overhead: float = 2.0, base: float = 300.0) -> cost.Units:
    return cost.Units(
        kinds={k: {"seconds_per_unit": v, "overhead_s": overhead, "base_mb": base} for k, v in kinds.items()},
        overhead_s=overhead,
        base_mb=base,
    )


def test_an_agd_job_counts_every_trial_at_its_cap_hand_computed():
    config = load(ROOT / "config" / "config.yaml")
    z2 = config["zhang2021"]["z2"]
    z2.update(d=10, n_samples=50, lam=[1, 2, 4], trials=2, eta=[0.5, 2.5], max_iter={"0.5": 300, "2.5": 100})
    job = workload.agd_job(config, "z2", 16)
    # 3 lam x 2 trials = 6 problems, each run at eta 0.5 (300 iterations) and 2.5 (100); K r = 80 > 2 d, so
    # the kernel multiplies all K d = 50 inputs of each of the N = 50 samples; the 6 trials' inputs fit in
    # one group, which runs one kernel call per iteration
    assert job.units == 6 * (300 + 100) * 50 * 50
    assert job.items == 300 + 100
    assert job.bound and job.kind == "agd" and job.rule == "agd_trials"
    # two methods that share eta (a beta axis) count twice; Z3 keeps curves
    z3 = config["zhang2021"]["z3"]
    z3.update(d=10, n_samples=40, trials=3, beta=[0.0, 0.2], eta=0.5, max_iter=200, record_every=1)
    job = workload.agd_job(config, "z3", 9)
    assert job.units == 3 * 2 * 200 * 40 * 50 and job.rule == "agd_trials_curves"


def test_a_z4_job_sums_over_its_sample_sizes():
    config = load(ROOT / "config" / "config.yaml")
    z4 = config["zhang2021"]["z4"]
    z4.update(d=10, n_samples=[50, 100], trials=2, eta=[2.5], max_iter={"0.5": 1, "2.5": 100})
    assert workload.agd_job(config, "z4", 10).units == 2 * 100 * (50 + 100) * 50


def test_training_jobs_count_sample_passes_hand_computed():
    config = load(ROOT / "config" / "config.yaml")
    z7 = config["zhang2021"]["z7"]
    z7.update(
        arch=["lenet5"],
        n_samples=[1000],
        trials=2,
        rounds=3,
        epochs=4,
        val_fraction=0.1,
        controls={"modes": ["reinit"], "n_samples": [2000]},
    )
    sizes = {"train": 8000, "test": 2000}
    # N = 1000: IMP only, 2 trials; 900 trained, 100 + 2000 evaluated (at a third) per epoch
    job = workload.z7_job(config, "lenet5", 1000, sizes)
    assert job.units == pytest.approx(2 * 3 * 4 * (900 + (100 + 2000) / 3))
    # N = 2000 has only the reinit control, which needs IMP's masks: two runs per trial
    job = workload.z7_job(config, "lenet5", 2000, sizes)
    assert job.units == pytest.approx(2 * 2 * 3 * 4 * (1800 + (200 + 2000) / 3))
    pe = config["pensia2020"]["pe"]
    pe.update(n_samples=1000, val_fraction=0.2, trials=2, keep={"fc2": [0.1, 0.5]}, epochs={"fc2": [1, 3]})
    job = workload.pe_job(config, "fc2", "wide", sizes)
    per_run_eval = (200 + 2000) / 3
    assert job.units == pytest.approx(2 * 2 * ((1 + 3) * 800 + 2 * per_run_eval))
    base = workload.pe_job(config, "fc2", "baseline", sizes)
    assert base.units == pytest.approx(2 * (pe["baseline_epochs"]["fc2"] * 800 + per_run_eval))


def test_pl_counts_the_sums_inside_the_interval():
    # a sum of n U[-1, 1] has variance n / 3; for n = 12 about 2R / sqrt(2 pi 4) = 0.2 of the 4096 lie inside
    inside = workload.pl_sums("uniform", 12, 0.5) - 2 * 64
    assert inside == pytest.approx(4096 * 1 / (2 * 3.14159265) ** 0.5 / 2, rel=1e-6)
    # never more than all of them
    assert workload.pl_sums("product", 2, 10.0) == 4 + 2 + 2


def test_mnist_sizes_come_from_the_idx_headers_or_full_mnist(tmp_path):
    from conftest import write_tiny_mnist

    write_tiny_mnist(tmp_path / "m", n_train=300, n_test=100)
    config = {"data": {"mnist": {"root": str(tmp_path / "m")}}}
    assert cost.mnist_sizes(config) == {"train": 300, "test": 100}
    assert cost.mnist_sizes({"data": {"mnist": {"root": str(tmp_path / "none")}}}) == FULL


def test_predictions_margins_and_retry_scale():
    job = cost.Job(
        "pe", {"network": "fc2", "variant": "wide"}, ("pe",), "pe:fc2:wide", units=1e6, array_bytes=100 * cost.MB
    )
    units = units_for({"pe:fc2:wide": 3e-4}, overhead=2.0, base=300.0)
    assert units.seconds(job) == pytest.approx(302.0)
    assert units.runtime_minutes(job) == 11  # ceil(2 x 302 / 60)
    assert units.mem_mb(job) == pytest.approx(400.0)
    assert units.mem_request_mb(job) == 600
    small = cost.Job("pe", {}, ("pe",), "pe:fc2:wide", units=1.0)
    assert units.runtime_minutes(small) == cost.MIN_MINUTES
    with pytest.raises(ConfigError, match="no calibrated cost for kind 'pe:fc4:wide'"):
        units.seconds(cost.Job("pe", {}, ("pe",), "pe:fc4:wide", units=1.0))


def test_actual_work_reads_the_iterations_a_job_recorded():
    config = load(ROOT / "config" / "config.yaml")
    job = workload.agd_job(config, "z2", 16)
    table = pd.DataFrame({"iterations": [10, 200, 50000], "n_samples": [600, 600, 600], "d": [100, 100, 100]})
    # K r = 80 <= 2 d: an iteration multiplies the 80 gathered inputs of a sample, not K d = 500; the 40
    # trials' inputs (600 x 80 numbers each) fill two 12 MiB groups, each running until its longest trial
    assert job.extra["groups"] == {600: 2}
    assert workload.actual_work(job, table) == ((10 + 200 + 50000) * 600 * 80, 2 * 50000)
    assert workload.actual_work(workload.pl_job(config), table) is None
    # the prediction counts every trial at its cap: 8 lam x 5 trials x 50,000 iterations
    assert job.items == 2 * 50000 and job.units == 8 * 5 * 50000 * 600 * 80


def test_an_agd_iteration_reads_what_the_engines_layout_holds():
    """The kernel gathers the K r support inputs while K r <= 2 d (ltpipe.engines.agd_layout), else reads d."""
    from ltpipe.engines.agd_layout import KERNEL_GATHER_BELOW

    assert KERNEL_GATHER_BELOW == 2.0
    assert workload.read_width(5, 16, 100) == 80 and workload.work_width(5, 16, 100) == 80
    assert workload.read_width(5, 40, 100) == 200 and workload.work_width(5, 40, 100) == 200
    assert workload.read_width(5, 41, 100) == 100 and workload.work_width(5, 41, 100) == 500


def test_trials_run_in_groups_that_fit_the_cache():
    """ltpipe.engines.agd.run_agd: groups of at most 12 MiB of inputs, within batches of max_batch_mb."""
    per = 12 * 2**20 // (1000 * 100 * 8)  # 15 trials of 1,000 x 100 doubles in a group
    assert workload.groups(15, 1000, 100, 8) == 1 and workload.groups(16, 1000, 100, 8) == 2
    assert workload.groups(per * 3 + 1, 1000, 100, 8) == 4
    # batches of 10: each its own groups; a trial larger than the cache is a group of its own
    assert workload.groups(25, 1000, 100, 8, batch=10) == 3
    assert workload.groups(3, 10**6, 100, 8) == 3


def test_calibration_recovers_known_per_unit_and_per_item_costs():
    """Jobs that took start-up + 2e-9 s per unit + 1e-4 s per item give both back; the teachers' median
    time is the start-up, their largest max_rss the base."""
    rows = [(cost.Job("teachers", {}, ("z2",)), {"s": s, "max_rss": 350.0}, (0.0, 0.0)) for s in (3.0, 4.0, 5.0)]
    for units, items in ((1e9, 1e4), (5e9, 2e5), (2e10, 3e4)):
        job = cost.Job(
            "agd_trials", {}, ("z2",), "agd", units=4 * units, items=items, bound=True, array_bytes=50 * cost.MB
        )
        rows.append((job, {"s": 4.0 + 2e-9 * units + 1e-4 * items, "max_rss": 500.0}, (units, items)))
    for units in (1e6, 3e6):
        job = cost.Job("pl_trials", {}, ("pl",), "pl", units=units)
        rows.append((job, {"s": 4.0 + 5e-7 * units, "max_rss": 400.0}, (units, 0.0)))
    fitted = calibrate.fit(rows)
    assert fitted["overhead_s"] == 4.0 and fitted["base_mb"] == 350.0
    agd = fitted["kinds"]["agd"]
    assert agd["seconds_per_unit"] == pytest.approx(2e-9) and agd["seconds_per_item"] == pytest.approx(1e-4)
    assert agd["jobs"] == 3 and agd["base_mb"] == pytest.approx(450.0)  # 500 MB beyond the 50 MB counted
    pl = fitted["kinds"]["pl"]
    assert pl["seconds_per_unit"] == pytest.approx(5e-7) and "seconds_per_item" not in pl


def test_the_check_reports_the_ratio_furthest_from_one_either_way():
    assert check_costs.spread(0.25) == 4.0 and check_costs.spread(3.0) == 3.0 and check_costs.spread(1.0) == 1.0


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.parent.name + "/" + p.name)
def test_estimate_runs_for_every_config(path, capsys):
    assert cli(["estimate", "--configfile", str(path)]) == 0
    out = capsys.readouterr().out
    total = re.search(r"^total_cpu_hours: (\S+)$", out, flags=re.M)
    assert total and float(total.group(1)) > 0, out
    config = load(path)
    jobs = workload.jobs(config)
    assert re.search(rf"^total\s+{len(jobs)}\s", out, flags=re.M), out
    for exp in ("z2", "z7", "pl", "pe", "pc", "mn"):
        assert re.search(rf"^{exp}\s+\d+", out, flags=re.M), (exp, out)


def test_estimate_without_per_unit_costs_says_how_to_make_them(tmp_path, capsys):
    assert cli(["estimate", "--configfile", str(TINY), "--units", str(tmp_path / "none.json")]) == 2
    assert "bench/calibrate.py" in capsys.readouterr().err


def test_estimate_refuses_a_bad_config_naming_the_key(tmp_path, capsys):
    config = load(TINY)
    config["zhang2021"]["z2"]["trials"] = -1
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    assert cli(["estimate", "--configfile", str(bad)]) == 2
    assert "zhang2021.z2.trials" in capsys.readouterr().err


def test_paper_scale_costs_more_than_default_in_every_experiment():
    units = cost.load_units()
    from ltpipe.estimate import estimate

    default = estimate(load(ROOT / "config" / "config.yaml"), units, FULL)
    paper = estimate(load(ROOT / "config" / "paper.yaml"), units, FULL)
    for exp in ("z2", "z3", "z4", "z5", "zt", "z6", "z7", "pl", "pe", "pc", "mn"):
        assert paper[exp]["cpu_hours"] > default[exp]["cpu_hours"], exp


def test_the_calibration_file_covers_every_kind_of_every_config():
    units = cost.load_units()
    for path in CONFIGS:
        config = load(path)
        if path == ROOT / "config" / "paper.yaml":  # the paper's Z7 has one architecture; try them all
            config = copy.deepcopy(config)
            config["zhang2021"]["z7"]["arch"] = ["lenet5", "lenet5-conv64", "lenet-300-100"]
        for job in workload.jobs(config, FULL):
            assert job.kind == "light" or job.kind in units.kinds, (path.name, job.name)
    assert units.meta["cpu"] and units.meta["date"] and units.meta["config"] == "bench/calibration.yaml"


@pytest.mark.workflow
def test_the_workflow_asks_for_each_jobs_predicted_resources(tmp_path):
    """A dry run shows every compute job's runtime and mem_mb: the cost model's predictions for that job."""
    where = make_copy(tmp_path / "res")
    config = load(where / "config" / "config.yaml")
    config["zhang2021"]["z6"]["n_samples"] = [60, 600]  # two jobs with different work
    (where / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    out = snakemake(
        where,
        "--dry-run",
        "results/zhang2021/z6/parts/N60.rounds.parquet",
        "results/zhang2021/z6/parts/N600.rounds.parquet",
    )
    text = out.stdout + out.stderr
    units = cost.load_units(where / "ltpipe" / "cost_units.json")
    seen = {}
    for block in re.findall(r"^(?:local)?rule z6:\n(.*?)(?=^\S|\Z)", text, flags=re.M | re.S):
        n = int(re.search(r"wildcards: n=(\d+)", block).group(1))
        res = dict(re.findall(r"\b(runtime|mem_mb)=(\d+)", block))
        job = workload.find(workload.jobs(config), "z6", {"n": n})
        assert int(res["runtime"]) == units.runtime_minutes(job), (n, block)
        assert int(res["mem_mb"]) == units.mem_request_mb(job), (n, block)
        seen[n] = int(res["runtime"])
    assert set(seen) == {60, 600}


def test_every_rule_sizes_itself_and_doubles_on_retry():
    """Compute rules take runtime and mem_mb from the cost model, summary rules fixed values, all times the
    attempt; the Slurm profile sets neither."""
    for smk in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        for m in re.finditer(r"^(?:rule|checkpoint) (\w+):\n(.*?)(?=^\S|\Z)", smk.read_text(), flags=re.M | re.S):
            if m.group(1) == "all":
                continue
            body = m.group(2)
            for key in ("runtime", "mem_mb"):
                value = re.search(rf"^\s+{key}=(.*),$", body, flags=re.M)
                assert value, (m.group(1), key)
                assert value.group(1).startswith((f'predicted_{key}("{m.group(1)}")', "retry(")), value.group(0)
    profile = load(ROOT / "workflow" / "profiles" / "slurm" / "config.yaml")
    for rule, res in profile["set-resources"].items():
        assert not {"runtime", "mem_mb"} & set(res), rule


@pytest.mark.workflow
def test_a_finished_runs_jobs_each_have_a_benchmark_the_check_reads(finished_run, capsys):
    """The model has exactly the jobs the tiny run ran: the benchmark files it names are those the run wrote
    (every compute job and the teachers), and the check reads them all."""
    config = load(finished_run / "config" / "config.yaml")
    jobs = [j for j in workload.jobs(config) if workload.benchmark_file(j)]
    written = {str(p.relative_to(finished_run)) for p in (finished_run / "benchmarks").rglob("*.tsv")}
    assert {workload.benchmark_file(j) for j in jobs} == written
    assert len(jobs) == len(written)  # one job per file
    assert (
        check_costs.main(
            [str(finished_run), "--configfile", str(finished_run / "config" / "config.yaml"), "--min-seconds", "0"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert len(
        [line for line in out.splitlines() if re.match(r"^(agd_trials|z6|z7|pl_trials|ps_|pe|pc|mn)", line)]
    ) == len([j for j in jobs if j.kind != "light"])
    assert re.search(r"worst_ratio: \d", out)


def test_the_benchmark_paths_are_the_rules_own():
    text = "".join(p.read_text() for p in (ROOT / "workflow" / "rules").glob("*.smk"))
    for rule, path in workload.BENCHMARKS.items():
        assert f'"{path}"' in text.replace("{wildcards.", "{"), rule
    # the calibration file is JSON the workflow can read without numpy
    json.loads(cost.UNITS_FILE.read_text())
    subprocess.run(
        [sys.executable, "-c", "import ltpipe.cost, ltpipe.workload, sys; assert 'numpy' not in sys.modules"],
        check=True,
        cwd=ROOT,
    )
