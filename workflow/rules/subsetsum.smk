# Random subset sum (Pensia et al. 2020): PL, the exact supremum of the optimal error over the
# target interval per trial (Theorem 3's quantity) and the n needed; PS, a trained target's weights
# as exact subset sums (Experiment 1).
# the PS settings its target depends on (editing eps keeps the trained target)
PS_TRAINING = ("n_samples", "epochs", "batch_size", "optimizer", "lr", "momentum")
PS_TRAINING += ("weight_decay", "schedule")


rule pl_trials:
    input:
        code=ltpipe_code("studies.pensia2020.pl.job"),
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
        mem_mb=predicted_mem_mb("pl_trials"),
        runtime=predicted_runtime("pl_trials"),
    params:
        cfg=section_json("pl"),
        seed=config["seed"],
    shell:
        "python -m ltpipe pl-trials --config {params.cfg:q} --seed {params.seed}"
        " --threads {threads} --out {output} > {log} 2>&1"


rule pl_needed:
    input:
        trials="results/pensia2020/pl/trials.parquet",
        code=ltpipe_code("studies.pensia2020.pl.job"),
    output:
        "results/pensia2020/pl/needed.parquet",
    log:
        "logs/pensia2020/pl_needed.log",
    conda:
        ENV
    resources:
        mem_mb=retry(1000),
        runtime=retry(10),
    params:
        cfg=as_json(cfg("pl")["needed"]),
    shell:
        "python -m ltpipe pl-needed --trials {input.trials} --config {params.cfg:q}"
        " --out {output} > {log} 2>&1"


# PS (Experiment 1): train the bias-free 784-500-10 target, then solve every weight, once per
# coefficient range (one job: the ranges share the target).
rule ps_target:
    input:
        mnist=mnist_files,
        code=ltpipe_code("studies.pensia2020.ps.job"),
    output:
        "results/pensia2020/ps/target.pt",
    log:
        "logs/pensia2020/ps_target.log",
    benchmark:
        "benchmarks/pensia2020/ps_target.tsv"
    # one thread: a network trained with more gets other low-order bits (the
    # reductions of its BLAS calls split differently), and results must not
    # depend on the machine's settings; jobs run side by side instead
    conda:
        ENV
    threads: 1
    resources:
        gpu=gpu_declared(),
        mem_mb=predicted_mem_mb("ps_target"),
        runtime=predicted_runtime("ps_target"),
    params:
        cfg=as_json({k: cfg("ps")[k] for k in PS_TRAINING}),
        seed=config["seed"],
        device=config["device"],
    shell:
        "python -m ltpipe ps-target --config {params.cfg:q} --seed {params.seed} --mnist {input.mnist:q}"
        " --device {params.device} --gpus {resources.gpu} --threads {threads} --out {output} > {log} 2>&1"


rule ps_solve:
    input:
        target="results/pensia2020/ps/target.pt",
        mnist=mnist_files,
        code=ltpipe_code("studies.pensia2020.ps.job"),
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
        mem_mb=predicted_mem_mb("ps_solve"),
        runtime=predicted_runtime("ps_solve"),
    params:
        cfg=section_json("ps", omit=PS_TRAINING),
        device=config["device"],
    shell:
        "python -m ltpipe ps-solve --config {params.cfg:q} --target {input.target} --mnist {input.mnist:q}"
        " --device {params.device} --gpus {resources.gpu} --threads {threads} --weights-out {output.weights}"
        " --summary-out {output.summary} > {log} 2>&1"
