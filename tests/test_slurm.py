"""The workflow through Snakemake's Slurm executor, on a fake Slurm: the sbatch calls it makes.

Fake sbatch, srun, squeue, sinfo, sacct, scontrol and scancel on PATH record their arguments; the
fake sbatch runs the job at once (as a one-node cluster would), or fails as Slurm does for a
partition that does not exist. Runs anywhere, with or without a real Slurm (.ci/slurm.sh runs the
whole tiny workflow on a real one).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from pathlib import Path

import pytest
import yaml
from conftest import make_copy, snakemake

from ltpipe import cost, workload

ROOT = Path(__file__).resolve().parent.parent
GPU_JOB = "results/zhang2021/z6/parts/N60.rounds.parquet"  # z6: a GPU rule
CPU_JOB = "results/zhang2021/z2/teachers/r4.parquet"  # teachers: a CPU rule

# Each fake appends {"tool": ..., "argv": [...]} to $FAKE_SLURM/calls.jsonl.
FAKE = r'''#!{python}
import json, os, subprocess, sys
from pathlib import Path

state = Path(os.environ["FAKE_SLURM"])
tool, argv = Path(sys.argv[0]).name, sys.argv[1:]
with open(state / "calls.jsonl", "a") as fh:
    fh.write(json.dumps({{"tool": tool, "argv": argv}}) + "\n")


def opt(name):
    """The value of --name=V, --name V or -n V."""
    for i, a in enumerate(argv):
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
        if a == name and i + 1 < len(argv):
            return argv[i + 1]
    return None


if tool == "sbatch":
    if opt("-p") not in (None, "fake"):
        print(f"sbatch: error: invalid partition specified: {{opt('-p')}}", file=sys.stderr)
        print("sbatch: error: Batch job submission failed: Invalid partition name specified", file=sys.stderr)
        sys.exit(1)
    for n in range(1, 10000):  # the next free job id
        try:
            fd = os.open(state / f"{{n}}.job", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            continue
        os.write(fd, (opt("--job-name") or "").encode())
        os.close(fd)
        break
    env = {{**os.environ, "SLURM_JOB_ID": str(n), "SLURM_JOBID": str(n)}}
    if opt("--gpus"):
        env["SLURM_GPUS"] = opt("--gpus")
    log = Path(opt("--output").replace("%j", str(n)))
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        rc = subprocess.call(["bash", "-c", opt("--wrap")], cwd=opt("-D"), env=env, stdout=out, stderr=out)
    (state / f"{{n}}.rc").write_text(str(rc))
    print(n)
elif tool == "srun":  # run the command after the options
    cmd = list(argv)
    while cmd and cmd[0].startswith("-"):
        cmd.pop(0)
    sys.exit(subprocess.call(cmd))
elif tool == "squeue":  # --format=%i|%T --states=all --noheader --name RUN
    for job in sorted(state.glob("*.job")):
        if job.read_text() == opt("--name"):
            rc = job.with_suffix(".rc")
            status = "RUNNING" if not rc.exists() else "COMPLETED" if rc.read_text() == "0" else "FAILED"
            print(f"{{job.stem}}|{{status}}")
elif tool == "sinfo":  # sinfo -o %P
    print("PARTITION\nfake*")
elif tool == "scontrol":  # show config
    print("MinJobAge               = 300 sec\nMaxArraySize            = 1001")
elif tool == "sacct":  # no accounting database
    print("sacct: error: Slurm accounting storage is disabled", file=sys.stderr)
    sys.exit(1)
'''


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch):
    """A copy of the workflow (gpu_jobs from the command line) and the fake Slurm's state folder."""
    bin_dir, state = tmp_path / "bin", tmp_path / "slurm"
    bin_dir.mkdir()
    state.mkdir()
    for tool in ("sbatch", "srun", "squeue", "sinfo", "scontrol", "sacct", "scancel"):
        path = bin_dir / tool
        path.write_text(FAKE.format(python=sys.executable))
        path.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM", str(state))
    for var in [v for v in os.environ if v.startswith(("SLURM_", "SBATCH_", "SRUN_"))]:
        monkeypatch.delenv(var)  # a real Slurm job's settings must not leak in
    return make_copy(tmp_path / "wf"), state


def run_slurm(where: Path, *args: str):
    return snakemake(
        where,
        "--executor",
        "slurm",
        "--jobs",
        "2",
        "--workflow-profile",
        str(where / "workflow" / "profiles" / "slurm"),
        "--slurm-status-command",
        "squeue",
        "--slurm-init-seconds-before-status-checks",
        "1",
        "--latency-wait",
        "5",
        *args,
        check=False,
    )


def sbatch_calls(state: Path) -> dict[str, list[str]]:
    """{rule: its (last) sbatch call's options}, the --wrap'ed command left out."""
    calls = {}
    for line in (state / "calls.jsonl").read_text().splitlines():
        call = json.loads(line)
        if call["tool"] != "sbatch":
            continue
        argv = [a for a in call["argv"] if not a.startswith("--wrap")]
        comment = argv[argv.index("--comment") + 1]
        calls[comment[len("rule_") :].split("_wildcards_")[0]] = argv
    return calls


@pytest.mark.workflow
def test_a_gpu_rule_requests_a_gpu_a_cpu_rule_none(fake_slurm):
    where, state = fake_slurm
    out = run_slurm(where, "--config", "gpu_jobs=always", "--", CPU_JOB, GPU_JOB)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert (where / GPU_JOB).stat().st_size > 0
    calls = sbatch_calls(state)
    assert set(calls) == {"teachers", "z6"}, calls
    gpu, cpu = calls["z6"], calls["teachers"]
    print("GPU rule:", shlex.join(gpu), "\nCPU rule:", shlex.join(cpu))
    # GPU: one GPU, the rule's threads per GPU, no task count; the job's predicted time and memory (attempt 1)
    assert "--gpus=1" in gpu and "--cpus-per-gpu=1" in gpu
    assert not any(a.startswith(("--ntasks", "--cpus-per-task", "--gres")) for a in gpu)
    config = yaml.safe_load((where / "config" / "config.yaml").read_text())
    job = workload.find(workload.jobs(config), "z6", {"n": 60})
    units = cost.load_units(where / "ltpipe" / "cost_units.json")
    assert gpu[gpu.index("-t") + 1] == str(units.runtime_minutes(job))
    assert gpu[gpu.index("--mem") + 1] == str(units.mem_request_mb(job))
    # CPU: no GPU at all
    assert not any(a.startswith(("--gpus", "--gres", "--cpus-per-gpu")) for a in cpu)
    assert "--ntasks=1" in cpu and "--cpus-per-task=1" in cpu
    assert cpu[cpu.index("-t") + 1] == "10" and cpu[cpu.index("--mem") + 1] == "1000"
    # no account (none given, none to guess: sacct has no database), the default partition
    assert "-A" not in gpu and gpu[gpu.index("-p") + 1] == "fake"


@pytest.mark.workflow
def test_gpu_jobs_never_requests_no_gpu(fake_slurm):
    where, state = fake_slurm
    out = run_slurm(where, "--config", "gpu_jobs=never", "--", GPU_JOB)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    job = sbatch_calls(state)["z6"]
    assert not any(a.startswith(("--gpus", "--gres", "--cpus-per-gpu")) for a in job)
    assert "--cpus-per-task=1" in job


@pytest.mark.workflow
def test_a_partition_slurm_does_not_know_stops_the_run(fake_slurm):
    where, state = fake_slurm
    out = run_slurm(
        where, "--config", "gpu_jobs=always", "--default-resources", "slurm_partition=nope", "--", CPU_JOB, GPU_JOB
    )
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert "sbatch: error: invalid partition specified: nope" in text
    assert "Batch job submission failed: Invalid partition name specified" in text
    # each job submitted twice (retries: 1), none run: no table, not even a partial one
    tries = [json.loads(line) for line in (state / "calls.jsonl").read_text().splitlines()]
    assert sum(c["tool"] == "sbatch" for c in tries) == 4
    assert not list(state.glob("*.job"))
    assert not list(where.glob("results/**/*.parquet"))
    assert not (where / CPU_JOB).exists()


@pytest.mark.workflow
def test_the_mnist_node_runs_where_snakemake_runs(fake_slurm):
    """A cluster's compute nodes often have no internet: the data node is a local rule, never submitted."""
    where, state = fake_slurm
    out = run_slurm(where, "--", "resources/mnist/verified/MNIST/raw/t10k-labels-idx1-ubyte")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert (where / "resources/mnist/verified/MNIST/raw/t10k-labels-idx1-ubyte").stat().st_size > 0
    assert sbatch_calls(state) == {}


def declared_rules() -> dict[str, bool]:
    """{rule: whether it declares gpu=gpu_declared()} from workflow/rules/*.smk (`use rule` inherits)."""
    rules, uses = {}, {}
    for smk in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        text = smk.read_text()
        for m in re.finditer(r"^(?:rule|checkpoint) (\w+):\n(.*?)(?=^\S|\Z)", text, flags=re.M | re.S):
            rules[m.group(1)] = "gpu=gpu_declared()" in m.group(2)
        for m in re.finditer(r"^use rule (\w+) as (\w+)", text, flags=re.M):
            uses[m.group(2)] = m.group(1)
    rules.update({new: rules[old] for new, old in uses.items()})
    return rules


def test_the_workflow_profile_gives_gpu_rules_cpus_per_gpu_and_leaves_sizes_to_the_rules():
    profile = yaml.safe_load((ROOT / "workflow" / "profiles" / "slurm" / "config.yaml").read_text())
    assert not {"executor", "jobs", "default-resources"} & set(profile)  # the user's profile's
    assert profile["retries"] == 1 and profile["keep-going"] is True
    rules = declared_rules()
    assert {"z6", "mnist", "gather"} <= set(rules)
    assert set(profile["set-resources"]) == {rule for rule, gpu in rules.items() if gpu}
    for rule, res in profile["set-resources"].items():
        assert res == {"cpus_per_gpu": "threads"}, rule  # time and memory: the rules' own (tests/test_cost.py)
