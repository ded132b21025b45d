# ltpipe: the lottery-ticket experiments of Zhang et al. 2021, Pensia et al.
# 2020 and Malach et al. 2020, from data to Parquet tables, figures and claims.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/agd.smk"
include: "workflow/rules/imp.smk"
include: "workflow/rules/subsetsum.smk"
include: "workflow/rules/edgepopup.smk"
include: "workflow/rules/construct.smk"
include: "workflow/rules/gather.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/claims.smk"


rule all:
    default_target: True
    input:
        all_targets(),
        data_targets,
