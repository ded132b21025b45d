# Batched AGD/GD trials (Zhang et al. 2021, Algorithm 1): one job per (experiment, r)
# for every experiment the registry assigns to the agd engine.


rule zhang2021_trials:
    input:
        teachers="results/zhang2021/{exp}/teachers/r{r}.parquet",
        code=ltpipe_code("studies.zhang2021.trials"),
    output:
        trials="results/zhang2021/{exp}/parts/r{r}.trials.parquet",
    log:
        "logs/zhang2021/{exp}/trials_r{r}.log",
    benchmark:
        "benchmarks/zhang2021/{exp}/trials_r{r}.tsv"
    wildcard_constraints:
        exp="|".join(set(AGD_EXPS) - set(CURVES_EXPS)),
    conda:
        ENV
    threads: config["threads"]
    resources:
        gpu=gpu_declared(),
        batch_mb=config["max_batch_mb"],
        mem_mb=lambda w: int(3 * config["max_batch_mb"]) + 1000,
        runtime=240,
    params:
        cfg=lambda w: section_json(w.exp),
        seed=config["seed"],
        device=config["device"],
        dtype=config["dtype"],
        curves="",
    shell:
        "python -m ltpipe zhang2021-trials --exp {wildcards.exp} --r {wildcards.r} --seed {params.seed}"
        " --config {params.cfg:q} --teachers {input.teachers} --out {output.trials} {params.curves}"
        " --device {params.device} --gpus {resources.gpu} --dtype {params.dtype} --threads {threads}"
        " --max-batch-mb {resources.batch_mb} > {log} 2>&1"


# the experiments that also record every trial's error curve (Z3)
use rule zhang2021_trials as zhang2021_trials_curves with:
    output:
        trials="results/zhang2021/{exp}/parts/r{r}.trials.parquet",
        curves="results/zhang2021/{exp}/parts/r{r}.curves.parquet",
    wildcard_constraints:
        exp="|".join(CURVES_EXPS),
    params:
        cfg=lambda w: section_json(w.exp),
        seed=config["seed"],
        device=config["device"],
        dtype=config["dtype"],
        curves=lambda w, output: f"--curves {output.curves}",


rule zhang2021_z3_rates:
    input:
        curves="results/zhang2021/z3/curves.parquet",
        code=ltpipe_code("studies.zhang2021.trials"),
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
        fit=as_json(cfg("z3")["fit"]),
    shell:
        "python -m ltpipe zhang2021-rates --curves {input.curves} --config {params.fit:q}"
        " --out {output} > {log} 2>&1"
