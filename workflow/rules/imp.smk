# Iterative magnitude pruning (Zhang et al. 2021, Sec. 5.2): Z6 on the sparse
# teacher with AGD inside each round, Z7 on MNIST. Jobs checkpoint every
# finished round next to their output and resume from it when rerun.
from ltpipe.studies.zhang2021.z7.declaration import modes as z7_modes

# the grid that names an IMP experiment's jobs: left out of a job's params, so that adding an N
# (or an architecture, or a control) runs only the new jobs
IMP_GRID = ("n_samples", "arch", "controls")


rule z6:
    input:
        code=ltpipe_code("studies.zhang2021.z6.job"),
    output:
        "results/zhang2021/z6/parts/N{n}.rounds.parquet",
    log:
        "logs/zhang2021/z6/N{n}.log",
    benchmark:
        "benchmarks/zhang2021/z6/N{n}.tsv"
    conda:
        ENV
    threads: config["threads"]
    resources:
        gpu=gpu_declared(),
        mem_mb=predicted_mem_mb("z6"),
        runtime=predicted_runtime("z6"),
    params:
        cfg=section_json("z6", omit=IMP_GRID),
        seed=config["seed"],
        device=config["device"],
        dtype=config["dtype"],
    shell:
        "python -m ltpipe z6 --config {params.cfg:q} --seed {params.seed} --n-samples {wildcards.n}"
        " --device {params.device} --gpus {resources.gpu} --dtype {params.dtype} --threads {threads} --out {output} > {log} 2>&1"


# One Z7 job per (arch, N) trains every run of that N together (the trials, and
# the Frankle & Carbin controls where N has them) as one program; the
# re-initialisation control trains, round by round, the masks that the IMP run
# of its trial has just found. Every job also writes the masks of its rounds.
rule z7:
    input:
        mnist=mnist_files,
        code=ltpipe_code("studies.zhang2021.z7.job"),
    output:
        epochs="results/zhang2021/z7/parts/{arch}/N{n}.epochs.parquet",
        rounds="results/zhang2021/z7/parts/{arch}/N{n}.rounds.parquet",
        masks="results/zhang2021/z7/parts/{arch}/N{n}.masks.pt",
    log:
        "logs/zhang2021/z7/{arch}_N{n}.log",
    benchmark:
        "benchmarks/zhang2021/z7/{arch}_N{n}.tsv"
    wildcard_constraints:
        arch="lenet5|lenet5-conv64|lenet-300-100",
    # one thread: a network trained with more gets other low-order bits (the
    # reductions of its BLAS calls split differently), and results must not
    # depend on the machine's settings; jobs run side by side instead
    conda:
        ENV
    threads: 1
    resources:
        gpu=gpu_declared(),
        mem_mb=predicted_mem_mb("z7"),
        runtime=predicted_runtime("z7"),
    params:
        cfg=section_json("z7", omit=IMP_GRID),
        modes=lambda w: " ".join(z7_modes(cfg("z7"), int(w.n))),
        seed=config["seed"],
        device=config["device"],
    shell:
        "python -m ltpipe z7 --config {params.cfg:q} --seed {params.seed} --mnist {input.mnist:q}"
        " --arch {wildcards.arch} --modes {params.modes} --n-samples {wildcards.n} --device {params.device}"
        " --gpus {resources.gpu} --threads {threads} --epochs-out {output.epochs}"
        " --rounds-out {output.rounds} --masks-out {output.masks} > {log} 2>&1"
