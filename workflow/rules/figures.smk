# Figures: read Parquet, draw with seaborn, nothing expensive. Each figure's
# params are its own plot settings only.


rule figure:
    input:
        unpack(lambda w: FIGURE_TABLES[w.fig]),
        code=ltpipe_code("figures"),
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
        plot=lambda w: as_json(figure_plot(w.fig)),
        tables=lambda w: " ".join(f"{k}={v}" for k, v in FIGURE_TABLES[w.fig].items()),
    shell:
        "python -m ltpipe figure --id {wildcards.fig} --plot {params.plot:q} --out {output.png} --out {output.pdf}"
        " {params.tables} > {log} 2>&1"
