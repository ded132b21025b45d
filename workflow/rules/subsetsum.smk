# Random subset sum (Pensia et al. 2020, PL): exact worst-case errors and the n needed.


rule pensia2020_pl_trials:
    input:
        code=ltpipe_code("pensia2020"),
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
        cfg=section_json("pensia2020", "pl"),
        seed=config["seed"],
    shell:
        "python -m ltpipe pensia2020-pl-trials --config {params.cfg:q} --seed {params.seed}"
        " --out {output} > {log} 2>&1"


rule pensia2020_pl_needed:
    input:
        trials="results/pensia2020/pl/trials.parquet",
        code=ltpipe_code("pensia2020"),
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
        cfg=as_json(PENSIA["pl"]["needed"]),
    shell:
        "python -m ltpipe pensia2020-pl-needed --trials {input.trials} --config {params.cfg:q}"
        " --out {output} > {log} 2>&1"
