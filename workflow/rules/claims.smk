# Claims: each experiment's claims computed from its tables (one job each, its
# experiment's claims module as code), then gathered into one table, its Markdown and
# HTML, and each figure's verdicts for its report caption (results/report/FIG.rst,
# included by ../report/figure.rst; no figure job reads them, so new verdicts
# rerun no figure). An experiment whose data node is unavailable gets a
# `not run` row per claim.


rule claims_experiment:
    input:
        unpack(claims_inputs),
        code=lambda w: ltpipe_code(registry.experiment(w.exp).module("claims")),
    output:
        "results/claims/{exp}.parquet",
    log:
        "logs/claims/{exp}.log",
    wildcard_constraints:
        exp="|".join(e.id for e in EXPERIMENTS),
    conda:
        ENV
    resources:
        mem_mb=retry(2000),
        runtime=retry(10),
    params:
        study=lambda w: registry.experiment(w.exp).study,
        figure=lambda w: registry.experiment(w.exp).figures[0].id,
        ids=lambda w: ",".join(registry.experiment(w.exp).claims),
        thresholds=lambda w: as_json(cfg(w.exp)["claims"]),
        not_run=not_run,
        tables=lambda w, input: " ".join(
            f"{name}={path}"
            for name, path in input.items()
            if name in registry.experiment(w.exp).tables
        ),
    shell:
        "python -m ltpipe claims --study {params.study} --exp {wildcards.exp} --figure {params.figure}"
        " --ids {params.ids} --config {params.thresholds:q} --not-run={params.not_run:q} --out {output}"
        " {params.tables} > {log} 2>&1"


rule claims:
    input:
        claims=[f"results/claims/{e.id}.parquet" for e in EXPERIMENTS],
        code=ltpipe_code("claims", "report"),
    output:
        table="results/claims.parquet",
        text=report(
            "results/claims.md", caption="../report/claims.rst", category="Claims"
        ),
        html=report(
            "results/claims.html", caption="../report/claims.rst", category="Claims"
        ),
        verdicts=[f"results/report/{fig}.rst" for fig in FIGURES],
    log:
        "logs/claims.log",
    conda:
        ENV
    resources:
        mem_mb=retry(2000),
        runtime=retry(10),
    shell:
        "(python -m ltpipe claims-gather --out {output.table} --markdown {output.text} {input.claims}"
        " && python -m ltpipe report-claims --claims {input.claims} --verdicts {output.verdicts}"
        " --html {output.html}) > {log} 2>&1"
