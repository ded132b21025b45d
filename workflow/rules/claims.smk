# Claims: every claim of EXPERIMENTS.md for the experiments built, computed from the tables.


rule claims:
    input:
        tables=[p for t in all_tables().values() for p in t.values()],
        code=ltpipe_code("claims"),
    output:
        table="results/claims.parquet",
        text=report(
            "results/claims.md", caption="../report/claims.rst", category="Claims"
        ),
    log:
        "logs/claims.log",
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        thresholds=as_json(claim_thresholds()),
        tables=" ".join(
            f"{exp}.{name}={path}"
            for exp, t in all_tables().items()
            for name, path in t.items()
        ),
    shell:
        "python -m ltpipe claims --config {params.thresholds:q} --out {output.table} --markdown {output.text}"
        " {params.tables} > {log} 2>&1"
