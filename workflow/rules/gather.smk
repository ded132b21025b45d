# One table per (experiment, name) that its declaration lists as gathered: the per-job parts
# concatenated in the order its parts() gives (AGD: per r; IMP: per arch and N; PE: per network
# and variant).
rule gather:
    input:
        parts=lambda w: parts(GATHERED[w.table][0].id, GATHERED[w.table][1]),
        code=ltpipe_code("tables"),
    output:
        "results/{table}.parquet",
    log:
        "logs/gather/{table}.log",
    wildcard_constraints:
        table="|".join(GATHERED),
    conda:
        ENV
    resources:
        mem_mb=retry(2000),
        runtime=retry(10),
    shell:
        "python -m ltpipe gather --out {output} {input.parts} > {log} 2>&1"
