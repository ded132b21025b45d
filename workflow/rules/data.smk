# Data nodes: the sparse teachers of every (experiment, r) job of the AGD
# experiments (Zhang et al. 2021, Sec. 5), and MNIST. Gaussian inputs are not
# stored (gigabytes at paper scale): each job regenerates them from the seeds
# recorded in the teachers table.


rule zhang2021_teachers:
    input:
        code=ltpipe_code("data.teacher"),
    output:
        "results/zhang2021/{exp}/teachers/r{r}.parquet",
    log:
        "logs/zhang2021/{exp}/teachers_r{r}.log",
    wildcard_constraints:
        exp="|".join(AGD_EXPS),
    conda:
        ENV
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        cfg=lambda w: teacher_json(w.exp),
        seed=config["seed"],
    shell:
        "python -m ltpipe teachers --study zhang2021 --exp {wildcards.exp} --r {wildcards.r}"
        " --seed {params.seed} --config {params.cfg:q} --out {output} > {log} 2>&1"


# The MNIST node runs where Snakemake runs (a cluster's login node usually has
# the internet access its compute nodes lack); it is light.
localrules:
    mnist,
    mnist_fetch,


# MNIST (Z7, PS, PE, PC, MW, MN), in two steps. The checkpoint decides whether
# the data can be had: the four IDX files under data.mnist.root (default
# resources/mnist) verified, or a download mirror that answers. When they
# cannot (offline, no copy), its manifest records why, the experiments that
# need MNIST are left out and their claims are marked not run. `present` reruns
# it once the files appear; after going online, --forcerun mnist.
checkpoint mnist:
    input:
        code=ltpipe_code("data.mnist"),
    output:
        MANIFEST,
    log:
        "logs/data/mnist.log",
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        root=lambda w, output: MNIST["root"] or os.path.dirname(output[0]),
        present=mnist_data.present(MNIST_ROOT),
        flags=" ".join(
            f
            for f, on in [
                ("--no-verify-checksums", not MNIST["verify_checksums"]),
                ("--no-download", not MNIST["download"]),
            ]
            if on
        ),
    shell:
        "python -m ltpipe mnist --root {params.root:q} {params.flags} --allow-unavailable --out {output}"
        " > {log} 2>&1"


# The data node's outputs: the four IDX files (copied from the root, or
# downloaded), verified, at a path relative to the working directory. Cached
# without its software (`snakemake --cache` with SNAKEMAKE_OUTPUT_CACHE set):
# workflows that ask for the same data share one copy and one download.
rule mnist_fetch:
    input:
        manifest=MANIFEST,
        code=ltpipe_code("data.mnist"),
    output:
        multiext(f"{MNIST_NODE}/MNIST/raw/", *sorted(mnist_data.FILES.values())),
    log:
        "logs/data/mnist_fetch.log",
    cache: "omit-software"
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        root=lambda w: MNIST_ROOT,  # the config's data root (the checkpoint checked it), not a prefix of the outputs
        dest=lambda w, output: output[0].split("/MNIST/raw/")[0],
    shell:
        "python -m ltpipe mnist-fetch --manifest {input.manifest} --root {params.root:q} --dest {params.dest}"
        " > {log} 2>&1"
