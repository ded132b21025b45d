# The MNIST data node (Z7, PS, PE, PC, MW, MN); what the workflow knows of its availability is in
# data_nodes.smk.
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
        code=ltpipe_code("data.mnist_node"),
    output:
        MANIFEST,
    log:
        "logs/data/mnist.log",
    conda:
        ENV
    resources:
        mem_mb=retry(2000),
        runtime=retry(30),
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
        code=ltpipe_code("data.mnist_node"),
    output:
        multiext(f"{MNIST_NODE}/MNIST/raw/", *sorted(mnist_data.FILES.values())),
    log:
        "logs/data/mnist_fetch.log",
    cache: "omit-software"
    conda:
        ENV
    resources:
        mem_mb=retry(2000),
        runtime=retry(30),
    params:
        root=lambda w: MNIST_ROOT,  # the config's data root (the checkpoint checked it), not a prefix of the outputs
        dest=lambda w, output: output[0].split("/MNIST/raw/")[0],
    shell:
        "python -m ltpipe mnist-fetch --manifest {input.manifest} --root {params.root:q} --dest {params.dest}"
        " > {log} 2>&1"
