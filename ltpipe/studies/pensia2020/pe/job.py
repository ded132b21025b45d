"""PE: edge-popup on random networks (Pensia et al. 2020, Sec. 5, Experiment 2, Fig. 2a-c).

Three networks on MNIST, all without biases (the paper's code's default):
``fc2`` (784-500-10), ``fc4`` (784-500-500-500-10) and ``lenet5`` (two
random, frozen convolutions, 6@5x5 pad 2 and 16@5x5, each followed by ReLU
and 2x2 max pooling, then fully connected 400-120-84-10, as the paper's
code builds it). Variants per network (``variants``):

- ``structure``, ``structure-relu``: every fully connected layer realised
  through Fig. 1c's extra hidden layer of ``r`` (a_i, b_i) pairs per input
  (:class:`ltpipe.engines.supermask.StructuredSupermaskLinear`), without and
  with the extra ReLU; both share the same random weights and scores;
- ``wide``: a plain random supermask network whose hidden layers (all of one
  width h) are widened until its fully connected weights about equal the
  structure's: (L - 1) h^2 + (in + out) h = P for L hidden layers, the
  paper's code's formulas;
- ``baseline``: the dense network (the same layer sizes) trained normally at
  the paper's budget (``baseline_epochs``: 10 epochs for the fully connected
  networks, 50 for LeNet5), its weights Kaiming normal at the start;
  LeNet-5's convolutions stay frozen at random, as in the paper's code (its
  parameter counts exclude them too).

LeNet5's frozen convolutions keep PyTorch's default initialisation
(``conv_init: default``, U[-1/sqrt(fan_in), 1/sqrt(fan_in)]), as the released
code leaves them, and one draw of them per trial is shared by every variant,
as the released code loads one into the baseline and every pruned network
(so a variant's gap is not the draw's).

Only the fully connected layers are pruned; ``conv: supermask`` also prunes
LeNet-5's convolutions (not the paper's setting). Every masked variant is
pruned by edge-popup (:mod:`ltpipe.engines.supermask`) at each ``keep`` of
the sweep (the same fraction in every layer, as the paper's code) and for
each epoch budget of ``epochs`` (each budget its own run, its cosine
schedule annealed to 0 over that budget, from the same random network and
batch order). SGD with momentum and weight decay on the scores (the weights
of the baseline), batch 64.

Honest selection: the paper reports, per parameter count, the maximum test
accuracy over the epoch budgets. Each run here also records its accuracy on
a validation split of the training subset (the network never trains on it);
:func:`select_budgets` picks the budget by validation accuracy and reports
its test accuracy beside the paper's max over budgets, named as such.

Tables:

- ``runs`` (one row per network, variant, trial, keep and epoch budget):
  network, variant, relu (the extra ReLU), r, hidden (widths of the hidden
  layers, e.g. "2508"), keep (fraction kept; 1 for the baseline), epochs,
  trial, seed (the random network's), conv_init (LeNet5's convolutions'
  initialisation; empty for the fully connected networks), params_total (the prunable weights:
  fully connected ones, plus the convolutions with ``conv: supermask``),
  params_kept, train_loss (mean over the last epoch), val_acc, test_acc
  (fractions), seconds (the run's wall time), n_train, n_val.
- ``selected`` (one row per network, variant, trial and keep): network,
  variant, relu, keep, trial, params_total, params_kept, epochs_selected,
  val_acc_selected, test_acc_selected (at the validation-chosen budget),
  test_acc_max_over_budgets, epochs_max_over_budgets (the paper's figure),
  n_budgets.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ltpipe.config import job_parser, start_job
from ltpipe.data.mnist import data_root
from ltpipe.data.mnist_subsets import prepare_data
from ltpipe.engines.train import evaluate, train_epochs
from ltpipe.progress import Progress
from ltpipe.seeds import derive_seed, torch_generator
from ltpipe.studies.pensia2020.pe.networks import NETWORKS, VARIANTS, build_network, count_params
from ltpipe.tables import atomic_path, load_torch, read_table, write_table

__all__ = ["pe_main", "run_job", "select_budgets", "select_main"]

log = logging.getLogger(__name__)


def _job_key(cfg: dict[str, Any], network: str, variant: str, seed: int) -> str:
    text = json.dumps({"cfg": cfg, "network": network, "variant": variant, "seed": seed}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def run_job(
    cfg: dict[str, Any],
    root: str,
    *,
    network: str,
    variant: str,
    seed: int,
    device: str = "cpu",
    checkpoint: Path | None = None,
) -> pd.DataFrame:
    """Every (trial, keep, epoch budget) run of one (network, variant); the ``runs`` rows.

    After each run the rows so far are saved to ``checkpoint`` (atomically, with a key of the settings);
    a rerun with the same settings starts after the last finished run.
    """
    keeps = [1.0] if variant == "baseline" else [float(k) for k in cfg["keep"]]
    # the dense baseline trains at the paper's budget (10 epochs FC, 50 LeNet5); the masks at every budget
    budgets = [int(cfg["baseline_epochs"])] if variant == "baseline" else [int(e) for e in cfg["epochs"]]
    key = _job_key(cfg, network, variant, seed)
    rows: list[dict] = []
    if checkpoint is not None and checkpoint.exists():
        saved = load_torch(checkpoint)
        if saved.get("key") == key:
            rows = saved["rows"]
            log.info("resuming %s/%s after %d finished runs (%s)", network, variant, len(rows), checkpoint)
        else:
            log.info("ignoring %s: written for other settings", checkpoint)
    done = {(row["trial"], row["keep"], row["epochs"]) for row in rows}
    # a run's time grows with its epochs: what is left is estimated from the epochs trained so far
    progress = Progress(weights=[e for _ in range(int(cfg["trials"])) for _ in keeps for e in budgets], logger=log)
    base = {k: cfg[k] for k in ("batch_size", "optimizer", "lr", "momentum", "weight_decay", "schedule")}
    for trial in range(int(cfg["trials"])):
        data_seed = derive_seed(seed, "pensia2020", "pe", "data", trial)
        data = None
        # both structures share their random network (paired); every variant shares data and batches
        net_key = "structure" if variant.startswith("structure") else variant
        net_seed = derive_seed(seed, "pensia2020", "pe", network, net_key, trial)
        # LeNet5's frozen convolutions: one draw per (network, trial), shared by every variant
        conv_seed = derive_seed(seed, "pensia2020", "pe", network, "convs", trial)
        for keep in keeps:
            for epochs in budgets:
                if (trial, keep, epochs) in done:
                    progress.skip()
                    continue
                if data is None:
                    data = prepare_data(root, cfg.get("n_samples"), float(cfg["val_fraction"]), data_seed, device)
                began = time.perf_counter()
                model, widths = build_network(
                    network,
                    variant,
                    keep=keep,
                    r=int(cfg["r"]),
                    hidden=int(cfg["hidden"]),
                    seed=net_seed,
                    conv=cfg.get("conv", "frozen"),
                    conv_seed=conv_seed,
                    conv_init=cfg.get("conv_init", "default"),
                )
                model = model.to(device)
                losses: list[float] = []

                def on_epoch(
                    epoch: int, loss: float, trial=trial, keep=keep, epochs=epochs, began=began, losses=losses
                ) -> None:
                    losses.append(loss)
                    log.info(
                        "%s/%s trial %d keep %g budget %d: epoch %d, train loss %.4f (%.1f s)",
                        network,
                        variant,
                        trial,
                        keep,
                        epochs,
                        epoch,
                        loss,
                        time.perf_counter() - began,
                    )

                train_epochs(
                    model,
                    data,
                    {**base, "epochs": epochs},
                    generator=torch_generator(data_seed, "batches"),
                    on_epoch=on_epoch,
                )
                _, val_acc = evaluate(model, data["x_val"], data["y_val"])
                _, test_acc = evaluate(model, data["x_test"], data["y_test"])
                params_total, params_kept = count_params(model)
                rows.append(
                    {
                        "network": network,
                        "variant": variant,
                        "relu": variant == "structure-relu",
                        "r": int(cfg["r"]),
                        "hidden": ",".join(map(str, widths)),
                        "keep": keep,
                        "epochs": epochs,
                        "trial": trial,
                        "seed": net_seed,
                        "conv_init": cfg.get("conv_init", "default") if network == "lenet5" else "",
                        "params_total": params_total,
                        "params_kept": params_kept,
                        "train_loss": losses[-1],
                        "val_acc": val_acc,
                        "test_acc": test_acc,
                        "seconds": time.perf_counter() - began,
                        "n_train": len(data["y_train"]),
                        "n_val": len(data["y_val"]),
                    }
                )
                progress.step(
                    "%s/%s trial %d keep %g epochs %d: %d of %d weights, val %.4f test %.4f",
                    network,
                    variant,
                    trial,
                    keep,
                    epochs,
                    params_kept,
                    params_total,
                    val_acc,
                    test_acc,
                )
                if checkpoint is not None:
                    with atomic_path(checkpoint) as tmp:
                        torch.save({"key": key, "rows": rows}, tmp)
    # a checkpoint holds the first runs of this very loop (its key fixes the settings), so rows are in loop order
    return pd.DataFrame(rows)


GROUP = ["network", "variant", "relu", "keep", "trial"]


def select_budgets(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (network, variant, keep, trial): the epoch budget of best validation accuracy (ties: the smaller
    budget) and its test accuracy, beside the paper's choice, the best test accuracy over the budgets.
    Rows keep the order of ``runs`` (the config's networks and variants)."""
    out = []
    for keys, g in runs.groupby(GROUP, sort=False):
        g = g.sort_values("epochs", kind="stable")
        by_val = g.loc[g["val_acc"].idxmax()]
        by_test = g.loc[g["test_acc"].idxmax()]
        out.append(
            {
                **dict(zip(GROUP, keys, strict=True)),
                "params_total": int(by_val["params_total"]),
                "params_kept": int(by_val["params_kept"]),
                "epochs_selected": int(by_val["epochs"]),
                "val_acc_selected": float(by_val["val_acc"]),
                "test_acc_selected": float(by_val["test_acc"]),
                "test_acc_max_over_budgets": float(by_test["test_acc"]),
                "epochs_max_over_budgets": int(by_test["epochs"]),
                "n_budgets": len(g),
            }
        )
    return pd.DataFrame(out)


def pe_main(argv: Sequence[str] | None = None) -> None:
    """ltpipe pe: edge-popup (or dense training) of one (network, variant) over the keep sweep and
    the epoch budgets."""
    parser = job_parser("ltpipe pe", pe_main.__doc__, "pe")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--mnist", nargs="+", required=True, help="the four MNIST IDX files (or the data root)")
    parser.add_argument("--network", required=True, choices=NETWORKS)
    parser.add_argument("--variant", required=True, choices=VARIANTS)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    cfg, device = start_job(args)
    if args.device == "auto" and device == "cpu":
        # the workflow declares PE's jobs as GPU jobs unless device is cpu (from the config, not the host)
        log.warning("declared a GPU job (device: auto) but no CUDA device is available here: running on the CPU")
    out = Path(args.out)
    checkpoint = out.parent / f".{out.name}.partial.pt"
    runs = run_job(
        cfg,
        data_root(args.mnist),
        network=args.network,
        variant=args.variant,
        seed=args.seed,
        device=device,
        checkpoint=checkpoint,
    )
    meta = {"seed": args.seed, "pe": cfg, "network": args.network, "variant": args.variant}
    write_table(runs, out, config=meta, device=device)
    checkpoint.unlink(missing_ok=True)


def select_main(argv: Sequence[str] | None = None) -> None:
    """ltpipe pe-select: the validation-selected epoch budget per (network, variant, keep, trial),
    beside the paper's best test accuracy over budgets."""
    parser = argparse.ArgumentParser(prog="ltpipe pe-select", description=select_main.__doc__)
    parser.add_argument("--runs", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    write_table(select_budgets(read_table(args.runs)), args.out, config={"runs": args.runs})
