"""The whole workflow on a tiny config: outputs, determinism, and what a change reruns."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import ROOT, SNAKEMAKE, make_copy, snakemake, write_tiny_mnist

from ltpipe import registry
from ltpipe.claims import base_id
from ltpipe.tables import read_metadata, read_table

pytestmark = pytest.mark.workflow

REQUIRED = {
    "zhang2021/z2/trials.parquet": [
        "r",
        "lam",
        "trial",
        "seed",
        "iterations",
        "rel_error",
        "success",
        "diverged",
        "stop",
        "max_iter",
        "window_change",
        "settled",
    ],
    "zhang2021/z2/radius.parquet": ["eta", "r", "radius", "censored", "bound", "settled", "trials"],
    "zhang2021/z3/curves.parquet": ["r", "beta", "trial", "iteration", "rel_error"],
    "zhang2021/z3/rates.parquet": ["r", "beta", "trial", "rate", "fit_start", "fit_end", "r2"],
    "zhang2021/z4/trials.parquet": ["r", "n_samples", "trial", "seed", "iterations", "rel_error", "success"],
    "zhang2021/z5/trials.parquet": ["r", "noise_level", "trial", "seed", "rel_error"],
    "zhang2021/zt/trials.parquet": ["r", "n_samples", "init", "trial", "seed", "init_error", "init_floor", "success"],
    "pensia2020/pl/trials.parquet": ["distribution", "n", "trial", "worst_error"],
    "pensia2020/pl/needed.parquet": ["distribution", "eps", "n_needed"],
    "zhang2021/z6/rounds.parquet": [
        "n_samples",
        "trial",
        "round",
        "remaining",
        "test_error",
        "support_contains_teacher",
        "lam",
        "teacher_kept",
        "window_change",
        "settled",
    ],
    "zhang2021/z7/epochs.parquet": ["n_samples", "round", "remaining", "epoch", "train_loss", "val_acc", "test_acc"],
    "zhang2021/z7/rounds.parquet": ["n_samples", "round", "remaining", "test_acc", "test_acc_at_best_val"],
    "pensia2020/ps/weights.parquet": ["layer", "row", "col", "target", "approx", "error", "kept"],
    "pensia2020/ps/summary.parquet": [
        "target_acc",
        "approx_acc",
        "max_error",
        "n_coefficients",
        "kept_total",
        "total_coefficients",
        "solve_seconds",
        "n_test",
        "target_only",
        "approx_only",
    ],
    "pensia2020/pe/runs.parquet": [
        "network",
        "variant",
        "relu",
        "keep",
        "epochs",
        "params_total",
        "params_kept",
        "val_acc",
        "test_acc",
        "seconds",
        "seed",
        "conv_init",
    ],
    "pensia2020/pe/selected.parquet": ["epochs_selected", "test_acc_selected", "test_acc_max_over_budgets"],
    "pensia2020/pc/single.parquet": ["construction", "n", "random_weights", "trial", "seed", "target", "error"],
    "pensia2020/pc/network.parquet": [
        "construction",
        "target",
        "depth",
        "width",
        "n",
        "trial",
        "error",
        "params_random",
        "params_kept",
    ],
    "pensia2020/pc/ps.parquet": ["construction", "n", "error", "target_acc", "pruned_acc", "agreement"],
    "malach2020/mw/single.parquet": ["construction", "n", "trial", "target", "error"],
    "malach2020/mw/network.parquet": ["construction", "target", "n", "trial", "error", "params_random"],
    "malach2020/mw/ps.parquet": ["construction", "n", "error", "pruned_acc"],
    "malach2020/mn/trials.parquet": ["task", "method", "d", "k", "m", "trial", "seed", "train_error", "test_error"],
    "claims.parquet": ["id", "claim", "value", "threshold", "verdict"],
}


def planned(where: Path) -> dict[str, int]:
    """{rule: job count} of a dry run."""
    out = snakemake(where, "--dry-run", "--quiet", "rules")
    text = out.stdout + out.stderr
    if "Nothing to be done" in text:
        return {}
    jobs = {}
    for line in text.splitlines():
        m = re.fullmatch(r"\s*([A-Za-z_][\w]*)\s+(\d+)\s*", line)
        if m and m.group(1) not in ("total", "job", "count"):
            jobs[m.group(1)] = int(m.group(2))
    assert jobs, text
    return jobs


def test_outputs_and_columns(runs):
    one, _ = runs
    for rel, cols in REQUIRED.items():
        df = read_table(one / "results" / rel)
        assert len(df) > 0, rel
        assert set(cols) <= set(df.columns), (rel, set(cols) - set(df.columns))
    for _, fig in registry.figures():
        for ext in ("png", "pdf"):
            assert (one / "results" / "figures" / f"{fig.id}.{ext}").stat().st_size > 5000
    claims = read_table(one / "results" / "claims.parquet")
    assert set(claims["verdict"]) <= {"pass", "fail", "untestable"}
    # every declared claim is computed, and nothing else, experiment by experiment in registry order
    for e in registry.EXPERIMENTS:
        ids = read_table(one / "results" / "claims" / f"{e.id}.parquet")["id"]
        assert {base_id(i) for i in ids} == set(e.claims), e.id
    assert list(dict.fromkeys(claims["id"].str.split(".").str[0])) == [e.id for e in registry.EXPERIMENTS]
    assert (one / "results" / "claims.md").read_text().startswith("# Claims:")
    snakemake(one, "--report", str(one / "report.html"))
    report = (one / "report.html").read_text()
    assert len(report) > 100_000
    for _, fig in registry.figures():  # every figure's caption, as its caption file words it
        title = (one / "workflow" / "report" / f"{fig.id}.rst").read_text().splitlines()[0].strip("*")
        assert title.split(":")[0] in report, fig.id
    meta = read_metadata(one / "results" / "zhang2021" / "z3" / "parts" / "r4.trials.parquet")
    assert meta["config"]["z3"]["eta"] == 0.5 and meta["device"] == "cpu" and meta["torch_version"]


def test_trial_tables_are_consistent(runs):
    one, _ = runs
    z2 = read_table(one / "results/zhang2021/z2/trials.parquet")
    cfg = yaml.safe_load((one / "config" / "config.yaml").read_text())["zhang2021"]["z2"]
    etas = cfg["eta"] if isinstance(cfg["eta"], list) else [cfg["eta"]]
    assert len(z2) == len(cfg["r"]) * len(cfg["lam"]) * cfg["trials"] * len(etas)
    # every step size runs on the same problems: per eta each trial once, the same seeds for every eta
    seeds = [sorted(g["seed"]) for _, g in z2.groupby("eta")]
    assert len(seeds) == len(etas) and all(len(set(s)) == len(s) and s == seeds[0] for s in seeds)
    assert (z2["success"] == (~z2["diverged"] & (z2["rel_error"] < cfg["success_tol"]))).all()
    curves = read_table(one / "results/zhang2021/z3/curves.parquet")
    z3 = read_table(one / "results/zhang2021/z3/trials.parquet")
    # every curve ends at its trial's final error, after its trial's iteration count
    last = curves.sort_values("iteration").groupby(["r", "beta", "trial"]).tail(1).set_index(["r", "beta", "trial"])
    z3 = z3.set_index(["r", "beta", "trial"]).loc[last.index]
    assert (last["iteration"] == z3["iterations"]).all()
    assert (last["rel_error"] == z3["rel_error"]).all()
    # GD and AGD ran on the same problems
    gd, agd = z3.xs(0.0, level="beta")["seed"].sort_index(), z3.xs(0.2, level="beta")["seed"].sort_index()
    assert gd.equals(agd)


def test_same_tables_whatever_cores_threads_and_batching(runs):
    one, two = runs
    tables = sorted(p.relative_to(one) for p in (one / "results").rglob("*.parquet"))
    assert len(tables) > 20
    for rel in tables:
        assert_same(one / rel, two / rel)


def assert_same(left: Path, right: Path) -> None:
    """Tables equal to the last bit, but for measured times (PS's solve_seconds, PE's seconds)."""
    a, b = (read_table(p).drop(columns=["solve_seconds", "seconds"], errors="ignore") for p in (left, right))
    pd.testing.assert_frame_equal(a, b, check_exact=True, obj=str(left))


def test_reruns_only_what_changed(runs, tmp_path):
    one, _ = runs
    assert planned(one) == {}
    cfg_path = one / "config" / "config.yaml"
    original = cfg_path.read_text()

    def edited(**changes):
        cfg = yaml.safe_load(original)
        for dotted, value in changes.items():
            node = cfg
            *path, last = dotted.split("/")
            for key in path:
                node = node[key]
            node[last] = value
        cfg_path.write_text(yaml.safe_dump(cfg))
        try:
            return planned(one)
        finally:
            cfg_path.write_text(original)

    claims = {"claims_experiment": 1, "claims": 1, "all": 1}
    z3_jobs = {"agd_trials_curves": 2, "gather": 2, "z3_rates": 1, "figure": 2, **claims}
    assert edited(**{"zhang2021/z3/eta": 0.4}) == z3_jobs
    assert edited(**{"zhang2021/z3/trials": 3}) == {**z3_jobs, "teachers": 2}
    assert edited(**{"zhang2021/z3/fit/upper": 0.05}) == {"z3_rates": 1, "figure": 1, **claims}
    assert edited(**{"zhang2021/z3/plot/b/dpi": 150}) == {"figure": 1, "all": 1}
    assert edited(**{"zhang2021/z5/claims/min_r2": 0.5}) == claims
    assert edited(threads=2, max_batch_mb=10) == {}
    # a new grid point of an IMP experiment runs only its own job
    figure = {"figure": 1, **claims}
    assert edited(**{"zhang2021/z7/n_samples": [100, 150, 200]}) == {"z7": 1, "gather": 2, **figure}
    # the controls run in the job of their N (trained with its IMP runs): editing them reruns that job only
    assert edited(**{"zhang2021/z7/controls/modes": ["random"]}) == {"z7": 1, "gather": 2, **figure}
    assert edited(**{"zhang2021/z6/n_samples": [60, 90, 120]}) == {"z6": 1, "gather": 1, **figure}
    # ZT: the tensor method's settings rerun its trials job, not its teachers
    assert edited(**{"zhang2021/zt/tensor/restarts": 6}) == {"agd_trials": 1, "gather": 1, **figure}
    # the PS target does not depend on eps: only the solve reruns
    assert edited(**{"pensia2020/ps/eps": 0.05}) == {"ps_solve": 1, **figure}
    assert edited(**{"pensia2020/pl/needed/eps": [0.1, 0.01, 0.005]}) == {"pl_needed": 1, **figure}
    # PE: one network's learning rate reruns that network's jobs only; a variant more runs only its own job
    pe_after = {"gather": 1, "pe_select": 1, **figure}
    assert edited(**{"pensia2020/pe/lr/lenet5": 0.02}) == {"pe": 4, **pe_after}
    assert edited(**{"pensia2020/pe/networks": ["fc2", "lenet5", "fc4"]}) == {"pe": 4, **pe_after}
    # PC and MW: the PS target's widths rerun only that job (its tables feed both experiments); MW's plot
    # settings only its figure; MN's settings only MN
    both = {"claims_experiment": 2, "claims": 1, "all": 1}
    assert edited(**{"pensia2020/pc/ps/n": [4, 6]}) == {"pc_ps": 1, "figure": 1, **both}  # only pc_mw
    assert edited(**{"malach2020/mw/network/n": [2, 8, 16]}) == {"pc": 1, "figure": 2, **both}
    assert edited(**{"malach2020/mw/plot/dpi": 120}) == {"figure": 1, "all": 1}
    assert edited(**{"malach2020/mn/neuron/m": 12}) == {"mn": 1, **figure}

    def edit(module):
        path = one / "ltpipe" / f"{module}.py"
        text = path.read_text()
        path.write_text(text + "\n# an edit\n")
        try:
            return planned(one)
        finally:  # restore the text, and an mtime older than every output, so the next edit starts clean
            path.write_text(text)
            os.utime(path, (0, 0))

    # the registry and the declarations are read to build the DAG only: editing them reruns nothing
    assert edit("registry") == {}
    assert edit("studies/zhang2021/z4/declaration") == {}
    assert edit("plotting") == {"figure": 15, "all": 1}
    # an experiment's folder: its figure module redraws its own figures, its claims module recomputes its
    # own claims, its job module reruns its own jobs, and nothing of another experiment
    assert edit("studies/zhang2021/z3/figure") == {"figure": 2, "all": 1}
    assert edit("studies/pensia2020/pl/figure") == {"figure": 2, "all": 1}
    assert edit("studies/zhang2021/z5/claims") == claims
    assert edit("studies/zhang2021/z3/rates") == {"z3_rates": 1, "figure": 1, **claims}
    assert edit("studies/pensia2020/pl/job") == {"pl_trials": 1, "pl_needed": 1, "figure": 2, **claims}
    assert edit("studies/pensia2020/pe/job") == {"pe": 8, "gather": 1, "pe_select": 1, **figure}
    # PC's jobs write MW's tables too, MW's claims and figure use PC's curve fits, and pc_mw (c) the n for eps
    assert edit("studies/pensia2020/pc/laws") == {"figure": 2, **both}
    # the claims of the AGD experiments (Z2-Z6, ZT) share their helpers; Z7's, on MNIST, use none of them
    assert edit("studies/zhang2021/common") == {"claims_experiment": 6, "claims": 1, "all": 1}
    jobs = edit("engines/agd")
    assert "teachers" not in jobs
    assert jobs["agd_trials"] == 7 and jobs["agd_trials_curves"] == 2 and jobs["z6"] == 2
    # the tensor initialisation reruns the AGD trial jobs (Z2-Z5 can start from it, ZT does), not Z6
    jobs = edit("engines/tensor_init")
    assert jobs["agd_trials"] == 7 and jobs["agd_trials_curves"] == 2
    assert "z6" not in jobs and "teachers" not in jobs
    assert "pl_trials" not in jobs and "z7" not in jobs and "mnist" not in jobs
    # pruning code reruns the IMP jobs only; the PS target trains without it
    jobs = edit("engines/prune")
    assert jobs["z7"] == 2 and jobs["z6"] == 2
    assert "ps_target" not in jobs and "mnist" not in jobs and "pl_trials" not in jobs
    jobs = edit("engines/train")
    assert jobs["z7"] == 2 and jobs["ps_target"] == 1 and "z6" not in jobs
    assert jobs["pe"] == 8
    # the supermask engine reruns PE's jobs and nothing else that trains
    jobs = edit("engines/supermask")
    assert jobs["pe"] == 8 and "z7" not in jobs and "ps_target" not in jobs
    # the constructions' engine reruns the jobs that build networks from it, nothing that trains
    jobs = edit("engines/construct")
    assert jobs["pc"] == 1 and jobs["pc_ps"] == 1 and jobs["mn"] == 1
    assert "ps_target" not in jobs and "ps_solve" not in jobs and "z7" not in jobs
    jobs = edit("engines/random_features")
    assert jobs["mn"] == 1 and "pc" not in jobs and "pc_ps" not in jobs
    # editing Z7's job reruns Z7 only, not the PS target that shares its data and training loop
    jobs = edit("studies/zhang2021/z7/imp")
    assert jobs["z7"] == 2 and "ps_target" not in jobs and "z6" not in jobs
    # the stacked training engine reruns Z7's jobs (one per N: the runs of an N train together) and nothing else
    assert edit("engines/stacked") == {"z7": 2, "gather": 2, "figure": 1, "claims_experiment": 1, "claims": 1, "all": 1}


def test_killed_run_resumes_with_the_missing_jobs_only(runs, tmp_path):
    one, _ = runs
    where = make_copy(tmp_path / "killed")
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    cmd = [*SNAKEMAKE, "--directory", str(where), "-s", str(where / "workflow" / "Snakefile"), "--cores", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    parts = where / "results" / "zhang2021"
    deadline = time.monotonic() + 600
    while len(list(parts.glob("*/parts/*.trials.parquet"))) < 3 and time.monotonic() < deadline:
        assert proc.poll() is None, "the run finished before it could be killed"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # no clean-up: as if the machine went down
    proc.wait()
    done = len(list(parts.glob("*/parts/*.trials.parquet")))
    snakemake(where, "--unlock")  # a hard kill leaves the lock behind (Ctrl-C would not)
    jobs = planned(where)
    total_parts = sum(len(ZHANG_R(where, exp)) for exp in ("z2", "z3", "z4", "z5", "zt"))
    left = jobs.get("agd_trials", 0) + jobs.get("agd_trials_curves", 0)
    assert total_parts - done <= left <= total_parts - done + 1
    snakemake(where, "--cores", "2")
    assert planned(where) == {}
    for rel in sorted(p.relative_to(one) for p in (one / "results").rglob("*.parquet")):
        assert_same(one / rel, where / rel)


def ZHANG_R(where: Path, exp: str) -> list[int]:  # noqa: N802
    return yaml.safe_load((where / "config" / "config.yaml").read_text())["zhang2021"][exp]["r"]


def test_offline_without_mnist_the_rest_runs_and_its_claims_say_not_run(tmp_path):
    where = make_copy(tmp_path / "offline")
    cfg_path = where / "config" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["data"]["mnist"] = {"root": str(tmp_path / "no-mnist"), "verify_checksums": False, "download": False}
    cfg_path.write_text(yaml.safe_dump(cfg))
    out = snakemake(where, "--cores", "2")  # finishes: nothing that needs MNIST is asked for
    # the end-of-run summary says which experiments did not run and why, and where everything is
    said = out.stderr
    assert "Not run: z7, pc, pe, ps, mn, mw. MNIST unavailable:" in said
    summary = said[said.rindex("# Claims:") :]
    for exp in ("z7", "ps", "pe", "pc", "mw", "mn"):
        assert re.search(rf"^\| {exp} \| 0 \| 0 \| 0 \| \d+ \|$", summary, re.M), exp
    assert "MNIST unavailable" in summary and "results/claims.md" in summary and "snakemake --report" in summary
    claims = read_table(where / "results" / "claims.parquet")
    needs = {e.id for e in registry.EXPERIMENTS if "mnist" in e.needs}
    assert needs == {"z7", "ps", "pe", "pc", "mw", "mn"}
    for e in registry.EXPERIMENTS:
        rows = claims[claims["id"].str.startswith(f"{e.id}.")]
        if e.id in needs:
            assert list(rows["id"]) == list(e.claims) and set(rows["verdict"]) == {"not run"}, e.id
            assert rows["detail"].str.contains("MNIST unavailable").all()
            assert rows["detail"].str.contains("train-images-idx3-ubyte").all()  # the error names the files
            assert not (where / e.table(e.tables[0])).exists()
        else:  # it ran: every verdict is one the data gave
            assert len(rows) and set(rows["verdict"]) <= {"pass", "fail", "untestable"}, e.id
    text = (where / "results" / "claims.md").read_text()
    assert "not run" in text.splitlines()[0] and text.startswith(summary.split("\n=")[0].rstrip())
    snakemake(where, "--report", str(where / "report.html"))
    assert planned(where) == {}
    write_tiny_mnist(tmp_path / "no-mnist")  # the files appear: the data node is checked again
    assert planned(where).get("mnist") == 1


def test_bad_config_is_refused_before_any_job(tmp_path):
    where = make_copy(tmp_path / "bad")
    cfg = yaml.safe_load((where / "config" / "config.yaml").read_text())
    cfg["zhang2021"]["z4"]["trials"] = -3
    (where / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    out = snakemake(where, "--cores", "1", check=False)
    assert out.returncode != 0
    assert "zhang2021.z4.trials: -3 is less than the minimum of 1" in out.stdout + out.stderr
    assert not (where / "results").exists()


def test_report_after_a_run_of_one_figure(tmp_path):
    """One figure's run and its report: the figure with its caption, no verdicts yet (the claims never ran)."""
    where = make_copy(tmp_path / "one-figure")
    snakemake(where, "--cores", "2", "results/figures/pl_b.png")
    assert not (where / "results" / "claims.parquet").exists()
    out = snakemake(where, "--report", str(where / "report.html"), "results/figures/pl_b.png")
    assert "ERROR" not in out.stderr and "Unknown target" not in out.stderr
    report = (where / "report.html").read_text()
    assert "Pensia et al. 2020: the number of coefficients needed for eps" in report
    assert "Claims of PL" not in report and "were not computed in this run" in report


def test_the_root_snakefile_and_the_catalog_entry_plan_the_same_jobs_with_the_default_profile(tmp_path):
    """`snakemake` from the root (Snakefile, profiles/ a link) and `snakemake -s workflow/Snakefile` in a checkout
    as the workflow catalog lays it out (no root Snakefile, no link) plan the same jobs, each with the default
    workflow profile."""
    where = make_copy(tmp_path / "root")
    dry = [*SNAKEMAKE, "--dry-run", "--quiet", "rules"]
    env = {**os.environ, "PYTHONHASHSEED": "0"}

    def plan(*args):
        out = subprocess.run([*dry, *args], cwd=where, capture_output=True, text=True, env=env, check=True)
        return out.stdout + out.stderr, re.findall(r"^\s*(\w+)\s+(\d+)\s*$", out.stdout, re.M)

    catalog, catalog_jobs = plan("-s", "workflow/Snakefile")
    shutil.copy(ROOT / "Snakefile", where / "Snakefile")
    (where / "profiles").symlink_to("workflow/profiles")
    root, root_jobs = plan()
    assert "Using workflow specific profile workflow/profiles/default" in catalog
    assert "Using workflow specific profile profiles/default" in root
    assert root_jobs == catalog_jobs and ("all", "1") in root_jobs and len(root_jobs) > 10


def test_a_finished_run_moved_elsewhere_is_still_finished(runs, tmp_path):
    """A researcher syncs a finished run (checkout and results) to another machine or folder: nothing reruns."""
    one, _ = runs
    moved = tmp_path / "elsewhere" / "moved"
    shutil.copytree(one, moved, symlinks=True)
    assert planned(moved) == {}


def test_the_workflow_reads_its_own_checkouts_code_and_schema(tmp_path):
    """A second checkout with a stricter schema refuses a config the installed package would accept, and its
    own ltpipe is what the workflow imports (a line printed by its __init__ appears)."""
    where = make_copy(tmp_path / "strict")
    schema = where / "workflow" / "schemas" / "config.schema.yaml"
    doc = yaml.safe_load(schema.read_text())
    doc["properties"]["seed"]["maximum"] = 5
    schema.write_text(yaml.safe_dump(doc, sort_keys=False))
    init = where / "ltpipe" / "__init__.py"
    init.write_text(init.read_text() + "\nimport sys\nprint('ltpipe of the copy', file=sys.stderr)\n")
    out = snakemake(where, "--dry-run", check=False)
    assert out.returncode != 0
    assert "seed: 2021 is greater than the maximum of 5" in out.stdout + out.stderr
    assert "ltpipe of the copy" in out.stderr


def test_gpu_jobs_are_declared_from_the_config_both_ways(tmp_path):
    """device: auto declares gpu=1 on the rules that can use a GPU (nothing to pass on a CPU host: without
    --resources the resource is not limited); --config device=cpu declares none."""
    where = make_copy(tmp_path / "gpu")

    def gpus(*config):
        out = snakemake(where, "--dry-run", "--printshellcmds", *config)
        return {int(g) for g in re.findall(r"--gpus (\d)", out.stdout)}

    assert gpus() == {1}
    assert gpus("--config", "device=cpu") == {0}
