"""Write config/README.md: every config key, what it means (from the schema) and its value at both scales.

    python scripts/config_readme.py            # rewrite config/README.md
    python scripts/config_readme.py --check    # exit 1 when config/README.md is out of date

The schema (workflow/schemas/config.schema.yaml) is the source of every description, so the page
cannot drift from what the workflow accepts; tests/test_config.py checks that it is up to date.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
SCALES = {
    "default (`config/config.yaml`)": ROOT / "config" / "config.yaml",
    "paper (`config/paper.yaml`)": ROOT / "config" / "paper.yaml",
}
OUT = ROOT / "config" / "README.md"
HEAD = """# Configuration

`config/config.yaml` is the default scale (the whole workflow in 20-25 minutes on a 2-core CPU),
`config/paper.yaml` the papers' own (a GPU workstation or a cluster); `.test/config/config.yaml` is
the tiny scale the tests and CI run. Every key is required and unknown keys are refused before any
job starts, naming the key (`zhang2021.z3.trials: -1 is less than the minimum of 1`). Any key can be
overridden on the command line, e.g. `snakemake --config seed=7 gpu_jobs=always`, or with
`--configfile`.

Editing a key reruns only the jobs that read it: an experiment's compute jobs read its section
without `plot`, `claims`, `fit` and `needed`, which only its figures, claims or summaries read.

This page is generated from the schema (`workflow/schemas/config.schema.yaml`, which holds every
description) and the two config files by `python scripts/config_readme.py`; a test fails when it is
out of date.
"""


# Meanings of keys whose schema node has no description of its own (an experiment's override of a
# shared key, or a name used the same way in several experiments): the longest matching dotted suffix.
GLOSSARY = {
    "trials": "independent trials per grid point (each its own seed)",
    "n_samples": "training samples N; a list is a problem axis (one value per grid point or job)",
    "lam": "initial distances of the ball initialisation; a list is a problem axis",
    "beta": "momentum (0 = GD); a list is a method axis run on the same problems",
    "noise_level": "label noise: sigma = noise_level x the labels' RMS (Sec. 5); a list is a problem axis",
    "k": "hidden neurons K",
    "d": "input dimension",
    "tol": "stop when the relative step ||W(t+1)-W(t)||_F/||W(t)||_F < tol",
    "rate": "fraction of the remaining weights pruned per round",
    "rounds": "pruning rounds",
    "output_rate": "pruning rate of the output layer per round (half the others', as Frankle & Carbin)",
    "arch": "networks trained (one set of jobs each)",
    "val_fraction": "fraction of the training subset held out for early stopping",
    "batch_size": "minibatch size",
    "lr": "learning rate",
    "momentum": "SGD momentum",
    "weight_decay": "L2 weight decay",
    "epochs": "training epochs",
    "controls.modes": "controls beside IMP: random (random masks, same sparsity), reinit (IMP's masks, new init)",
    "controls.n_samples": "training sizes at which the controls run",
    "distributions": "distributions the n candidates are drawn from (U[-1, 1], a product of two, a normal)",
    "needed.eps": "target errors at which the n needed is read off",
    "ps.eps": "subset-sum approximation target per weight",
    "pe.epochs.fc2": "epoch budgets for FC2 (the best on the validation split is selected)",
    "pe.epochs.fc4": "epoch budgets for FC4",
    "pe.epochs.lenet5": "epoch budgets for LeNet5",
    "pe.lr.fc2": "learning rate for FC2",
    "pe.lr.fc4": "learning rate for FC4",
    "pe.lr.lenet5": "learning rate for LeNet5",
    "eval.samples": "sphere samples for the sup over the unit ball",
    "eval.starts": "worst samples the gradient search starts from",
    "eval.steps": "projected gradient-ascent steps per start",
    "single.n": "random products per weight (one weight, Malach's closest-product rule)",
    "network.n": "random products per weight (random target networks)",
    "mw.ps.n": "random products per weight (the PS target network)",
    "n_train": "training samples",
    "n_test": "test samples",
    "weight_pruning.eps": "target error of the weight-pruning constructions (sets their widths)",
    "mnist.k": "neurons per block (k) compared",
    "fit.min_points": "fewest points of a curve the rate fit uses",
    "claims.min_r2": "claim threshold: least R^2 of the fitted law",
    "claims.min_fit_r2": "claim threshold: least R^2 of each curve's linear-rate fit",
    "claims.min_rate_r2": "claim threshold: least R^2 of the rate against sqrt(r)",
    "claims.decade_tolerance": "claim threshold: largest |slope - 1| of log error on log noise level",
    "claims.slope_tolerance": "claim threshold: largest deviation of the fitted slope from the theory's",
    "max_iter.0.5": "iterations at most for the step size 0.5",
    "max_iter.2.5": "iterations at most for the step size 2.5",
    "pe.keep.fc2": "fractions kept for FC2",
    "pe.keep.fc4": "fractions kept for FC4",
    "pe.keep.lenet5": "fractions kept for LeNet5",
    "baseline_epochs.fc2": "the dense FC2's epochs",
    "baseline_epochs.fc4": "the dense FC4's epochs",
    "baseline_epochs.lenet5": "the dense LeNet5's epochs",
}


def glossary(path: str) -> str:
    parts = path.split(".")
    for i in range(1, len(parts)):
        text = GLOSSARY.get(".".join(parts[i:]))
        if text:
            return text
    return ""


def resolve(node: dict, schema: dict) -> dict:
    """Follow a $ref (and the first branch of a oneOf/anyOf that has properties) to the node that describes."""
    seen = dict(node)
    while "$ref" in seen:
        target = schema
        for part in seen.pop("$ref").lstrip("#/").split("/"):
            target = target[part]
        seen = {**target, **seen}
    return seen


def child(node: dict, key: str, schema: dict) -> dict:
    node = resolve(node, schema)
    if key in node.get("properties", {}):
        return resolve(node["properties"][key], schema)
    for branch in node.get("oneOf", []) + node.get("anyOf", []):
        branch = resolve(branch, schema)
        if key in branch.get("properties", {}):
            return resolve(branch["properties"][key], schema)
    extra = node.get("additionalProperties")
    return resolve(extra, schema) if isinstance(extra, dict) else {}


def describe(node: dict) -> str:
    text = " ".join(str(node.get("description", "")).split())
    if not text and "enum" in node:
        text = "one of " + ", ".join(f"`{v}`" for v in node["enum"])
    return text.replace("|", "\\|")


def show(value) -> str:
    if value is None:
        return "null"
    text = json.dumps(value, separators=(", ", ": "))
    return f"`{text}`".replace("|", "\\|")


def rows(values: list, node: dict, schema: dict, path: str):
    """(dotted key, description, value per scale) for every key, depth first; sections get a row too."""
    first = values[0]
    if isinstance(first, dict):
        if path:
            yield path, describe(node), None
        for key in first:
            sub = [v.get(key) if isinstance(v, dict) else None for v in values]
            yield from rows(sub, child(node, key, schema), schema, f"{path}.{key}" if path else key)
    else:
        yield path, describe(node), values


def render() -> str:
    schema = yaml.safe_load(SCHEMA.read_text())
    configs = [yaml.safe_load(p.read_text()) for p in SCALES.values()]
    lines = [HEAD]
    top = None
    for path, text, values in rows(configs, schema, schema, ""):
        section = path.split(".")[0]
        if section != top:
            top = section
            title = section if isinstance(configs[0][section], dict) else "shared settings"
            if not (title == "shared settings" and "## shared settings" in lines):
                lines += ["", f"## {title}", "", "| key | meaning | " + " | ".join(SCALES) + " |", "|---|---|---|---|"]
        if values is None:
            lines.append(f"| **`{path}`** | {text} | | |")
        else:
            text = text or glossary(path).replace("|", "\\|")
            lines.append(f"| `{path}` | {text} | " + " | ".join(show(v) for v in values) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that config/README.md is up to date")
    args = parser.parse_args()
    text = render()
    if args.check:
        if OUT.read_text() != text:
            print("config/README.md is out of date: run python scripts/config_readme.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
