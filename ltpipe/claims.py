"""The claims driver: each experiment's claims computed from its Parquet tables, then gathered.

Experiment ``EXP`` of study ``STUDY`` has its claims computed by
``claims(tables, thresholds)`` in ``ltpipe.studies.STUDY.EXP.claims`` (one job
per experiment, ``results/claims/EXP.parquet``); ``ltpipe claims-gather``
concatenates them into ``results/claims.parquet`` and ``results/claims.md``.

Each row is one claim: id, figure, claim (the sentence), value (what was
measured), op and threshold (the test applied: ``value op threshold``),
verdict and detail (how the value was obtained, and why a claim could not be
tested when it could not). The verdict is ``pass`` or ``fail``; ``untestable``
when the data do not meet the claim's premise (say both variants of a
comparison at chance), with the reason; or ``not run`` for each declared claim
of an experiment whose tables are missing (MNIST unavailable offline, say), so
that the claims of every other experiment are still written.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ltpipe.analysis import linear_fit
from ltpipe.studies import study_function
from ltpipe.tables import read_table, write_table

__all__ = [
    "NOT_RUN",
    "UNTESTABLE",
    "VERDICTS",
    "base_id",
    "claim_row",
    "evaluate",
    "fmt",
    "markdown",
    "not_run_rows",
    "spearman",
    "summary",
    "trend_claims",
]

COLUMNS = ["id", "figure", "claim", "value", "op", "threshold", "verdict", "detail"]
NOT_RUN = "not run"
UNTESTABLE = "untestable"
VERDICTS = ("pass", "fail", UNTESTABLE, NOT_RUN)

log = logging.getLogger(__name__)

OPS: dict[str, Callable[[float, float], bool]] = {
    ">": lambda v, t: v > t,
    ">=": lambda v, t: v >= t,
    "<": lambda v, t: v < t,
    "<=": lambda v, t: v <= t,
}


def claim_row(
    cid: str,
    figure: str,
    text: str,
    value: float,
    op: str,
    threshold: float,
    detail: str,
    untestable: str = "",
) -> dict:
    """One claims row; NaN values fail. ``untestable``: why the data cannot test the claim (its premise does
    not hold, say both variants at chance); the verdict is then ``untestable`` whatever the value, and the
    reason leads the detail."""
    value = float(value)
    ok = math.isfinite(value) and OPS[op](value, float(threshold))
    return {
        "id": cid,
        "figure": figure,
        "claim": text,
        "value": value,
        "op": op,
        "threshold": float(threshold),
        "verdict": UNTESTABLE if untestable else "pass" if ok else "fail",
        "detail": f"untestable: {untestable}; {detail}" if untestable else detail,
    }


def trend_claims(
    ids: tuple[str, str],
    figure: str,
    texts: tuple[str, str],
    x: Sequence[float],
    y: Sequence[float],
    *,
    direction: str,
    min_r2: float,
    note: str,
) -> list[dict]:
    """Two claims on a least-squares line of y on x: its slope has the sign ``direction``
    (``">"`` rising, ``"<"`` falling) and its R^2 is at least ``min_r2``."""
    slope, _, r2 = linear_fit(x, y)
    return [
        claim_row(ids[0], figure, texts[0], slope, direction, 0.0, note + "; slope"),
        claim_row(ids[1], figure, texts[1], r2, ">=", min_r2, note + "; R^2"),
    ]


def fmt(values: Sequence[float]) -> str:
    """Numbers for a claim's detail, four significant digits."""
    return ", ".join("nan" if not np.isfinite(v) else f"{v:.4g}" for v in values)


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation (average ranks for ties); NaN with fewer than 3 points."""
    x, y = pd.Series(np.asarray(x, dtype=float)), pd.Series(np.asarray(y, dtype=float))
    if len(x) < 3:
        return float("nan")
    return float(x.rank().corr(y.rank()))


def base_id(claim_id: str) -> str:
    """A claim id without its qualifier: ``z3.rate_linear[beta=0.2]`` -> ``z3.rate_linear``."""
    return claim_id.split("[", 1)[0]


def evaluate(
    study: str, exp: str, tables: dict[str, pd.DataFrame], thresholds: dict[str, Any], declared: Iterable[str]
) -> pd.DataFrame:
    """The claims of one experiment; every id must be one of ``declared`` (base ids), possibly qualified."""
    rows = study_function(study, exp, "claims", "claims")(tables, thresholds)
    unknown = sorted({base_id(r["id"]) for r in rows} - set(declared))
    if unknown:
        raise ValueError(f"{exp}: claims {', '.join(unknown)} are not declared in studies/{study}/{exp}/declaration.py")
    return pd.DataFrame(rows, columns=COLUMNS)


def not_run_rows(exp: str, declared: Iterable[str], figure: str, reason: str) -> pd.DataFrame:
    """One ``not run`` row per declared claim of an experiment whose tables are missing."""
    rows = [
        {
            "id": cid,
            "figure": figure,
            "claim": f"{exp}: not run",
            "value": float("nan"),
            "op": "",
            "threshold": float("nan"),
            "verdict": NOT_RUN,
            "detail": reason,
        }
        for cid in declared
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def _counts(df: pd.DataFrame) -> dict[str, int]:
    return {v: int((df["verdict"] == v).sum()) for v in VERDICTS}


def summary(df: pd.DataFrame) -> str:
    """The claims in brief: the totals, one line per experiment (in table order) with its count of each
    verdict, why the experiments that did not run did not, and where everything is. It heads claims.md and
    is what the workflow prints at the end of a run."""
    total = _counts(df)
    head = f"# Claims: {total['pass']} of {len(df)} pass"
    head += " (" + ", ".join(f"{n} {v}" for v, n in total.items() if v != "pass") + ")"
    exp = df["id"].str.split(".").str[0]
    lines = [head, "", "| experiment | " + " | ".join(VERDICTS) + " |", "|---" * (len(VERDICTS) + 1) + "|"]
    for name, rows in df.groupby(exp, sort=False):
        counts = _counts(rows)
        lines.append(f"| {name} | " + " | ".join(str(counts[v]) for v in VERDICTS) + " |")
    not_run = df[df["verdict"] == NOT_RUN]
    if len(not_run):
        lines.append("")
        for reason, rows in not_run.groupby("detail", sort=False):
            names = ", ".join(dict.fromkeys(rows["id"].str.split(".").str[0]))
            lines.append(f"Not run: {names}. {reason.strip().splitlines()[0]}")
    lines += [
        "",
        "Every claim with its value and test: results/claims.md (and results/claims.parquet); the figures: "
        "results/figures/; figures, captions and verdicts in one page: snakemake --report report.html",
    ]
    return "\n".join(lines) + "\n"


def markdown(df: pd.DataFrame) -> str:
    """The claims as Markdown: the summary, then one table row per claim, failures flagged in bold."""
    lines = [summary(df), "| verdict | id | claim | value | test | detail |", "|---|---|---|---|---|---|"]
    for row in df.itertuples():
        if row.verdict == NOT_RUN:
            lines.append(f"| not run | {row.id} | {row.claim} | | | {row.detail} |")
            continue
        verdict = "**FAIL**" if row.verdict == "fail" else row.verdict
        lines.append(
            f"| {verdict} | {row.id} | {row.claim} | {row.value:.4g} | {row.op} {row.threshold:g} | {row.detail} |"
        )
    return "\n".join(lines) + "\n"


def _log(df: pd.DataFrame) -> None:
    for row in df.itertuples():
        log.info(
            "%-7s %-40s value=%.4g %s %.4g  %s",
            row.verdict.upper(),
            row.id,
            row.value,
            row.op,
            row.threshold,
            row.detail,
        )


def main(argv: Sequence[str] | None = None) -> None:
    """ltpipe claims: check one experiment's claims from its tables (NAME=PATH) into a claims table."""
    parser = argparse.ArgumentParser(prog="ltpipe claims", description=main.__doc__)
    parser.add_argument("--study", required=True)
    parser.add_argument("--exp", required=True)
    parser.add_argument("--figure", required=True, help="the figure that not-run rows name")
    parser.add_argument("--ids", required=True, help="the experiment's declared claim ids, comma-separated")
    parser.add_argument("--config", required=True, help="the experiment's claim thresholds as JSON")
    parser.add_argument(
        "--not-run", default="", help="the tables are missing: write a not-run row per declared claim, with this reason"
    )
    parser.add_argument("--out", required=True)
    parser.add_argument("tables", nargs="*", help="NAME=PATH, e.g. rates=results/zhang2021/z3/rates.parquet")
    args = parser.parse_args(argv)
    thresholds = json.loads(args.config)
    declared = [i for i in args.ids.split(",") if i]
    if args.not_run:
        df = not_run_rows(args.exp, declared, args.figure, args.not_run)
    else:
        if not args.tables:
            parser.error("give the experiment's tables, or --not-run REASON")
        tables = {}
        for item in args.tables:
            name, _, path = item.partition("=")
            tables[name] = read_table(path)
        df = evaluate(args.study, args.exp, tables, thresholds, declared)
    write_table(df, args.out, config={args.exp: thresholds})
    _log(df)


def gather_main(argv: Sequence[str] | None = None) -> None:
    """ltpipe claims-gather: concatenate the experiments' claims into one table and its Markdown."""
    parser = argparse.ArgumentParser(prog="ltpipe claims-gather", description=gather_main.__doc__)
    parser.add_argument("--out", required=True)
    parser.add_argument("--markdown", help="also write the claims as a Markdown table here")
    parser.add_argument("inputs", nargs="+", help="per-experiment claims tables, in report order")
    args = parser.parse_args(argv)
    df = pd.concat([read_table(p) for p in args.inputs], ignore_index=True)
    write_table(df, args.out, config={"inputs": args.inputs})
    if args.markdown:
        Path(args.markdown).write_text(markdown(df))
    log.info("%d claims: %s", len(df), ", ".join(f"{n} {v}" for v, n in _counts(df).items()))
