# ltpipe's entry point: `snakemake` from the checkout's root runs the workflow of workflow/Snakefile
# (the Snakemake workflow catalog's entry) with the local profile profiles/default (a link to
# workflow/profiles/default, found beside this file).


include: "workflow/Snakefile"


# an included file's default target does not carry over to the including one: name it again
workflow.default_target = "all"
