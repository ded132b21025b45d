"""The run-dependent parts of the Snakemake report: each figure's claim verdicts, and the claims as a table.

``ltpipe report-claims`` runs in the workflow's ``claims`` rule, right after
``ltpipe claims-gather``, on the same per-experiment claims tables
(``results/claims/EXP.parquet``). It writes

- ``results/report/FIG.rst`` per figure: every claim of the figure's
  experiment with its verdict (pass, fail, or not run), included by the
  figure's caption template (``workflow/report/figure.rst``) when
  ``snakemake --report`` renders it. The figure job never reads it, so a
  change of claims reruns no figure;
- ``results/claims.html``: the claims as an HTML table, the report's Claims
  item (the report offers Markdown only as a download).

A figure ``FIG`` belongs to experiment ``EXP`` when it is ``EXP`` or
``EXP_PANEL`` (the registry's convention). This module does not import the
registry, so editing the registry reruns no job.
"""

from __future__ import annotations

import argparse
import html
import logging
import string
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ltpipe.claims import NOT_RUN, VERDICTS, fmt
from ltpipe.tables import read_table

__all__ = ["claims_html", "experiment_of", "figure_rst", "rst_escape"]

log = logging.getLogger(__name__)

_RST_SPECIAL = {c: "\\" + c for c in string.punctuation}


def rst_escape(text: str) -> str:
    """``text`` as literal reStructuredText: every punctuation character backslash-escaped, on one line."""
    return " ".join(str(text).split()).translate(str.maketrans(_RST_SPECIAL))


def _measured(row) -> str:
    if row.verdict == NOT_RUN or not row.op:
        return ""
    return f"{fmt([row.value])} {row.op} {row.threshold:g}"


def _counts(claims: pd.DataFrame) -> dict[str, int]:
    """How many claims have each verdict."""
    return {v: int((claims["verdict"] == v).sum()) for v in VERDICTS}


def figure_rst(exp: str, claims: pd.DataFrame) -> str:
    """The reStructuredText of one figure's verdicts: a summary line, then one bullet per claim of its
    experiment (``claims``, its rows of the claims table, in their order)."""
    counts = _counts(claims)
    summary = ", ".join(f"{n} {v}" for v, n in counts.items() if n) or "none"
    lines = [f"**Claims of {exp.upper()}** (this run, ``results/claims/{exp}.parquet``): {summary}.", ""]
    for row in claims.itertuples():
        text = row.detail if row.verdict == NOT_RUN else row.claim
        item = f"- **{row.verdict}** ``{row.id}``: {rst_escape(text)}"
        if measured := _measured(row):
            item += f" ({rst_escape(measured)})"
        lines.append(item)
    return "\n".join(lines) + "\n"


def experiment_of(fig: str, experiments: Sequence[str]) -> str:
    """The experiment of figure ``fig``: ``EXP`` itself or the longest ``EXP`` with ``fig == EXP_PANEL``."""
    matches = [e for e in experiments if fig == e or fig.startswith(f"{e}_")]
    if not matches:
        raise ValueError(f"figure {fig!r} belongs to none of the experiments {', '.join(experiments)}")
    return max(matches, key=len)


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #1e293b; }
h1 { font-size: 1.3em; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #cbd5e1; padding: 0.3em 0.5em; text-align: left; vertical-align: top; }
th { background: #f1f5f9; }
td.verdict { font-weight: bold; white-space: nowrap; }
tr.pass td.verdict { color: #15803d; }
tr.fail td.verdict { color: #b91c1c; }
tr.not-run td.verdict { color: #64748b; }
tr.untestable td.verdict { color: #a16207; }
td.id { font-family: monospace; min-width: 14em; max-width: 22em; overflow-wrap: anywhere; }
td.claim, td.detail { min-width: 16em; }
td.value, td.test { white-space: nowrap; }
"""


def claims_html(claims: pd.DataFrame) -> str:
    """The claims as one HTML page: a title with the counts, then one table row per claim."""
    counts = _counts(claims)
    title = f"Claims: {counts['pass']} of {len(claims)} pass, " + ", ".join(
        f"{n} {v}" for v, n in counts.items() if v != "pass"
    )
    head = ["verdict", "id", "claim", "value", "test", "detail"]
    rows = []
    for row in claims.itertuples():
        value = "" if row.verdict == NOT_RUN else fmt([row.value])
        test = f"{row.op} {row.threshold:g}" if row.op else ""
        cells = [row.verdict, row.id, row.claim, value, test, row.detail]
        classes = ["verdict", "id", "claim", "value", "test", "detail"]
        tds = "".join(f'<td class="{c}">{html.escape(str(v))}</td>' for c, v in zip(classes, cells, strict=True))
        rows.append(f'<tr class="{row.verdict.replace(" ", "-")}">{tds}</tr>')
    ths = "".join(f"<th>{h}</th>" for h in head)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n<table>\n<thead><tr>{ths}</tr></thead>\n<tbody>\n"
        + "\n".join(rows)
        + "\n</tbody>\n</table>\n</body>\n</html>\n"
    )


def main(argv: Sequence[str] | None = None) -> None:
    """ltpipe report-claims: each figure's claim verdicts as reStructuredText, and the claims as HTML."""
    parser = argparse.ArgumentParser(prog="ltpipe report-claims", description=main.__doc__)
    parser.add_argument(
        "--claims", nargs="+", required=True, help="the per-experiment claims tables, results/claims/EXP.parquet"
    )
    parser.add_argument(
        "--verdicts", nargs="+", required=True, help="write each figure's verdicts here, as .../FIG.rst"
    )
    parser.add_argument("--html", help="also write every claim as an HTML table here")
    args = parser.parse_args(argv)
    tables = {Path(p).stem: read_table(p) for p in args.claims}
    for path in map(Path, args.verdicts):
        exp = experiment_of(path.stem, list(tables))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(figure_rst(exp, tables[exp]))
    if args.html:
        Path(args.html).write_text(claims_html(pd.concat(tables.values(), ignore_index=True)))
    log.info("the verdicts of %d figures, from %d claims tables", len(args.verdicts), len(tables))
