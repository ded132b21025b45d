# Figures: read Parquet, draw with seaborn, nothing expensive. Each figure's
# params are its own plot settings (and caption) only; its code is its
# study's figures module. Its report caption (../report/figure.rst) adds the
# verdicts of its experiment's claims, which the claims rule writes after the
# figures (results/report/FIG.rst): no figure job reads them.


rule figure:
    input:
        unpack(
            lambda w: {t: FIGURES[w.fig][0].table(t) for t in FIGURES[w.fig][1].tables}
        ),
        code=lambda w: ltpipe_code(f"studies.{FIGURES[w.fig][0].study}.figures"),
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
        mem_mb=2000,
        runtime=10,
    params:
        study=lambda w: FIGURES[w.fig][0].study,
        plot=lambda w: as_json(figure_plot(w.fig)),
        caption=lambda w: FIGURES[w.fig][1].caption,
        tables=lambda w: " ".join(
            f"{t}={FIGURES[w.fig][0].table(t)}" for t in FIGURES[w.fig][1].tables
        ),
    shell:
        "python -m ltpipe figure --study {params.study} --id {wildcards.fig} --plot {params.plot:q}"
        " --out {output.png} --out {output.pdf} {params.tables} > {log} 2>&1"
