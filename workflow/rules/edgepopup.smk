# Edge-popup on random networks (Pensia et al. 2020, Experiment 2, PE): one job per
# (network, variant) runs the keep sweep and the epoch budgets, checkpointing every
# finished run next to its output (a rerun resumes after it); then the epoch budget
# is selected on the validation split.


rule pe:
    input:
        mnist=mnist_files,
        code=ltpipe_code("studies.pensia2020.pe.job"),
    output:
        "results/pensia2020/pe/parts/{network}/{variant}.runs.parquet",
    log:
        "logs/pensia2020/pe/{network}_{variant}.log",
    benchmark:
        "benchmarks/pensia2020/pe/{network}_{variant}.tsv"
    wildcard_constraints:
        network="fc2|fc4|lenet5",
        variant="structure|structure-relu|wide|baseline",
    # one thread: a network trained with more gets other low-order bits (the
    # reductions of its BLAS calls split differently), and results must not
    # depend on the machine's settings; jobs run side by side instead
    conda:
        ENV
    threads: 1
    resources:
        gpu=gpu_declared(),
        mem_mb=predicted_mem_mb("pe"),
        runtime=predicted_runtime("pe"),
    params:
        # its own network's keeps, learning rate and epoch budgets: editing LeNet5's reruns only LeNet5's jobs
        cfg=lambda w: section_json(
            "pe",
            omit=("networks", "variants"),
            keep=w.network,
            lr=w.network,
            epochs=w.network,
            baseline_epochs=w.network,
        ),
        seed=config["seed"],
        device=config["device"],
    shell:
        "python -m ltpipe pe --config {params.cfg:q} --seed {params.seed} --mnist {input.mnist:q}"
        " --network {wildcards.network} --variant {wildcards.variant} --device {params.device} --gpus {resources.gpu}"
        " --threads {threads} --out {output} > {log} 2>&1"


rule pe_select:
    input:
        runs="results/pensia2020/pe/runs.parquet",
        code=ltpipe_code("studies.pensia2020.pe.job"),
    output:
        "results/pensia2020/pe/selected.parquet",
    log:
        "logs/pensia2020/pe_select.log",
    conda:
        ENV
    resources:
        mem_mb=retry(1000),
        runtime=retry(10),
    shell:
        "python -m ltpipe pe-select --runs {input.runs} --out {output} > {log} 2>&1"
