# Figures: read Parquet, draw with seaborn, nothing expensive. Each figure's params are its own
# plot settings only; its code is its experiment's figure module. Its report caption
# (../report/figure.rst) includes the figure's caption file (../report/FIG.rst) and, once the claims
# rule has run, the verdicts of its experiment's claims (results/report/FIG.rst): no figure job reads
# either, so editing a caption or a new verdict reruns no figure.
REPORT = Path(workflow.current_basedir).parent / "report"


rule figure:
    input:
        unpack(
            lambda w: {t: FIGURES[w.fig][0].table(t) for t in FIGURES[w.fig][1].tables}
        ),
        code=lambda w: ltpipe_code(FIGURES[w.fig][0].module("figure")),
    output:
        png=report(
            "results/figures/{fig}.png",
            caption="../report/figure.rst",
            category="Figures",
        ),
        pdf="results/figures/{fig}.pdf",
    log:
        "logs/figures/{fig}.log",
    conda:
        ENV
    resources:
        mem_mb=retry(2000),
        runtime=retry(10),
    params:
        study=lambda w: FIGURES[w.fig][0].study,
        exp=lambda w: FIGURES[w.fig][0].id,
        plot=lambda w: as_json(FIGURES[w.fig][1].settings(cfg(FIGURES[w.fig][0].id))),
        caption=lambda w: os.path.relpath(REPORT / f"{w.fig}.rst"),
        tables=lambda w: " ".join(
            f"{t}={FIGURES[w.fig][0].table(t)}" for t in FIGURES[w.fig][1].tables
        ),
    shell:
        "python -m ltpipe figure --study {params.study} --exp {params.exp} --id {wildcards.fig}"
        " --plot {params.plot:q} --out {output.png} --out {output.pdf} {params.tables} > {log} 2>&1"
