# Strong lottery tickets by construction (Pensia et al. 2020, PC; Malach et al. 2020,
# MW and MN). One job builds PC's and MW's single-weight and random-target tables (the
# same random networks pruned by both rules), one the PS target's; MN is one job.


rule pc:
    input:
        code=ltpipe_code("studies.pensia2020.pc.job"),
    output:
        single_pc="results/pensia2020/pc/single.parquet",
        network_pc="results/pensia2020/pc/network.parquet",
        single_mw="results/malach2020/mw/single.parquet",
        network_mw="results/malach2020/mw/network.parquet",
    log:
        "logs/pensia2020/pc_construct.log",
    benchmark:
        "benchmarks/pensia2020/pc_construct.tsv"
    conda:
        ENV
    threads: config["threads"]
    resources:
        gpu=gpu_declared(),
        mem_mb=predicted_mem_mb("pc"),
        runtime=predicted_runtime("pc"),
    params:
        cfg=sections_json(("pc", "mw"), ("single", "network", "eval")),
        seed=config["seed"],
        device=config["device"],
    shell:
        "python -m ltpipe pc --config {params.cfg:q} --seed {params.seed}"
        " --device {params.device} --gpus {resources.gpu} --threads {threads} --single-pc {output.single_pc}"
        " --network-pc {output.network_pc} --single-mw {output.single_mw}"
        " --network-mw {output.network_mw} > {log} 2>&1"


rule pc_ps:
    input:
        target="results/pensia2020/ps/target.pt",
        mnist=mnist_files,
        code=ltpipe_code("studies.pensia2020.pc.job"),
    output:
        pc="results/pensia2020/pc/ps.parquet",
        mw="results/malach2020/mw/ps.parquet",
    log:
        "logs/pensia2020/pc_ps.log",
    benchmark:
        "benchmarks/pensia2020/pc_ps.tsv"
    conda:
        ENV
    threads: config["threads"]
    resources:
        gpu=gpu_declared(),
        mem_mb=predicted_mem_mb("pc_ps"),
        runtime=predicted_runtime("pc_ps"),
    params:
        cfg=sections_json(("pc", "mw"), ("ps",)),  # the PS target's widths: this job only
        seed=config["seed"],
        device=config["device"],
    shell:
        "python -m ltpipe pc-ps --config {params.cfg:q} --seed {params.seed}"
        " --target {input.target} --mnist {input.mnist:q} --device {params.device} --gpus {resources.gpu}"
        " --threads {threads} --out-pc {output.pc} --out-mw {output.mw} > {log} 2>&1"


rule mn:
    input:
        mnist=mnist_files,
        code=ltpipe_code("studies.malach2020.mn.job"),
    output:
        "results/malach2020/mn/trials.parquet",
    log:
        "logs/malach2020/mn.log",
    benchmark:
        "benchmarks/malach2020/mn.tsv"
    conda:
        ENV
    threads: config["threads"]
    resources:
        mem_mb=predicted_mem_mb("mn"),
        runtime=predicted_runtime("mn"),
    params:
        cfg=section_json("mn"),
        seed=config["seed"],
        device=config["device"],
    shell:
        "python -m ltpipe mn --config {params.cfg:q} --seed {params.seed} --mnist {input.mnist:q}"
        " --device {params.device} --threads {threads} --out {output} > {log} 2>&1"
