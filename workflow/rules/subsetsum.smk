# Random subset sum (Pensia et al. 2020, PL): the exact supremum of the optimal error over the
# target interval per trial (Theorem 3's quantity), and the n needed.


rule pensia2020_pl_trials:
    input:
        code=ltpipe_code("studies.pensia2020.pl"),
    output:
        "results/pensia2020/pl/trials.parquet",
    log:
        "logs/pensia2020/pl_trials.log",
    benchmark:
        "benchmarks/pensia2020/pl_trials.tsv"
    conda:
        ENV
    threads: config["threads"]
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        cfg=section_json("pl"),
        seed=config["seed"],
    shell:
        "python -m ltpipe pensia2020-pl-trials --config {params.cfg:q} --seed {params.seed}"
        " --threads {threads} --out {output} > {log} 2>&1"


rule pensia2020_pl_needed:
    input:
        trials="results/pensia2020/pl/trials.parquet",
        code=ltpipe_code("studies.pensia2020.pl"),
    output:
        "results/pensia2020/pl/needed.parquet",
    log:
        "logs/pensia2020/pl_needed.log",
    conda:
        ENV
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        cfg=as_json(cfg("pl")["needed"]),
    shell:
        "python -m ltpipe pensia2020-pl-needed --trials {input.trials} --config {params.cfg:q}"
        " --out {output} > {log} 2>&1"


# PS (Experiment 1): train the bias-free 784-500-10 target, then solve every weight, once per
# coefficient range (one job: the ranges share the target).
rule pensia2020_ps_target:
    input:
        mnist=mnist_files,
        code=ltpipe_code("studies.pensia2020.ps"),
    output:
        "results/pensia2020/ps/target.pt",
    log:
        "logs/pensia2020/ps_target.log",
    benchmark:
        "benchmarks/pensia2020/ps_target.tsv"
    conda:
        ENV
    # one thread: a network trained with more gets other low-order bits (the
    # reductions of its BLAS calls split differently), and results must not
    # depend on the machine's settings; jobs run side by side instead
    threads: 1
    resources:
        gpu=gpu_declared(),
        mem_mb=4000,
        runtime=120,
    params:
        cfg=as_json(ps_training()),
        seed=config["seed"],
        device=config["device"],
    shell:
        "python -m ltpipe pensia2020-ps-target --config {params.cfg:q} --seed {params.seed} --mnist {input.mnist:q}"
        " --device {params.device} --gpus {resources.gpu} --threads {threads} --out {output} > {log} 2>&1"


rule pensia2020_ps_solve:
    input:
        target="results/pensia2020/ps/target.pt",
        mnist=mnist_files,
        code=ltpipe_code("studies.pensia2020.ps"),
    output:
        weights="results/pensia2020/ps/weights.parquet",
        summary="results/pensia2020/ps/summary.parquet",
    log:
        "logs/pensia2020/ps_solve.log",
    benchmark:
        "benchmarks/pensia2020/ps_solve.tsv"
    conda:
        ENV
    threads: config["threads"]
    resources:
        gpu=gpu_declared(),
        mem_mb=8000,
        runtime=120,
    params:
        cfg=as_json(ps_solving()),
        device=config["device"],
    shell:
        "python -m ltpipe pensia2020-ps-solve --config {params.cfg:q} --target {input.target} --mnist {input.mnist:q}"
        " --device {params.device} --gpus {resources.gpu} --threads {threads} --weights-out {output.weights}"
        " --summary-out {output.summary} > {log} 2>&1"
