# Batched AGD/GD trials (Zhang et al. 2021, Algorithm 1): one job per (experiment, r).


rule zhang2021_trials:
    input:
        teachers="results/zhang2021/{exp}/teachers/r{r}.parquet",
        code=ltpipe_code("zhang2021"),
    output:
        trials="results/zhang2021/{exp}/parts/r{r}.trials.parquet",
    log:
        "logs/zhang2021/{exp}/trials_r{r}.log",
    benchmark:
        "benchmarks/zhang2021/{exp}/trials_r{r}.tsv"
    wildcard_constraints:
        exp="z2|z4|z5",
    conda:
        ENV
    threads: config["threads"]
    resources:
        gpu=gpu_count(),
        batch_mb=config["max_batch_mb"],
        mem_mb=lambda w: int(3 * config["max_batch_mb"]) + 1000,
        runtime=240,
    params:
        cfg=lambda w: section_json("zhang2021", w.exp),
        seed=config["seed"],
        device=config["device"],
        dtype=config["dtype"],
    shell:
        "python -m ltpipe zhang2021-trials --exp {wildcards.exp} --r {wildcards.r} --seed {params.seed}"
        " --config {params.cfg:q} --teachers {input.teachers} --out {output.trials}"
        " --device {params.device} --dtype {params.dtype} --threads {threads}"
        " --max-batch-mb {resources.batch_mb} > {log} 2>&1"


rule zhang2021_z3_trials:
    input:
        teachers="results/zhang2021/{exp}/teachers/r{r}.parquet",
        code=ltpipe_code("zhang2021"),
    output:
        trials="results/zhang2021/{exp}/parts/r{r}.trials.parquet",
        curves="results/zhang2021/{exp}/parts/r{r}.curves.parquet",
    log:
        "logs/zhang2021/{exp}/trials_r{r}.log",
    benchmark:
        "benchmarks/zhang2021/{exp}/trials_r{r}.tsv"
    wildcard_constraints:
        exp="z3",
    conda:
        ENV
    threads: config["threads"]
    resources:
        gpu=gpu_count(),
        batch_mb=config["max_batch_mb"],
        mem_mb=lambda w: int(3 * config["max_batch_mb"]) + 1000,
        runtime=240,
    params:
        cfg=lambda w: section_json("zhang2021", w.exp),
        seed=config["seed"],
        device=config["device"],
        dtype=config["dtype"],
    shell:
        "python -m ltpipe zhang2021-trials --exp {wildcards.exp} --r {wildcards.r} --seed {params.seed}"
        " --config {params.cfg:q} --teachers {input.teachers} --out {output.trials} --curves {output.curves}"
        " --device {params.device} --dtype {params.dtype} --threads {threads}"
        " --max-batch-mb {resources.batch_mb} > {log} 2>&1"


rule zhang2021_gather:
    input:
        parts=lambda w: zhang_parts(w.exp, w.name),
        code=ltpipe_code("tables"),
    output:
        "results/zhang2021/{exp}/{name}.parquet",
    log:
        "logs/zhang2021/{exp}/gather_{name}.log",
    wildcard_constraints:
        name="trials|curves",
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "python -m ltpipe gather --out {output} {input.parts} > {log} 2>&1"


rule zhang2021_z3_rates:
    input:
        curves="results/zhang2021/z3/curves.parquet",
        code=ltpipe_code("zhang2021"),
    output:
        "results/zhang2021/z3/rates.parquet",
    log:
        "logs/zhang2021/z3/rates.log",
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        fit=as_json(ZHANG["z3"]["fit"]),
    shell:
        "python -m ltpipe zhang2021-rates --curves {input.curves} --config {params.fit:q}"
        " --out {output} > {log} 2>&1"
