"""The registry: collects every experiment's declaration and checks it.

Each experiment lives in one folder, ``ltpipe/studies/<study>/<exp>/``, and
declares itself in its ``declaration.py`` as ``EXPERIMENT = Experiment(...)``:
its tables, figures, claims, entry points, the data it needs, the per-job parts
its gathered tables are made of and its own config checks. This module finds
those folders (study by study in :data:`STUDIES` order, experiments by folder
name), checks what it can, and answers the workflow's, the CLI's, the report's
and the tests' questions about them.

Neither this module nor any declaration imports torch or matplotlib:
Snakemake imports them to build the DAG, and no job imports them, so editing
a declaration reruns no job.

Conventions a declaration relies on (and the tests check):

- table ``NAME`` of experiment ``EXP`` of study ``STUDY`` is
  ``results/STUDY/EXP/NAME.parquet``; a gathered table is concatenated from
  ``results/STUDY/EXP/parts/PART.NAME.parquet`` for every PART that
  :attr:`Experiment.parts` gives for the experiment's config section;
- figure ``FIG`` (``EXP`` or ``EXP_PANEL``) is drawn by ``fig_FIG`` in
  ``ltpipe.studies.STUDY.EXP.figure`` from its plot settings ``STUDY.EXP.plot``
  (or ``STUDY.EXP.plot.PANEL``), captioned by ``workflow/report/FIG.rst``;
- the claims are computed by ``claims`` in ``ltpipe.studies.STUDY.EXP.claims``
  with the thresholds ``STUDY.EXP.claims``; every claim id it writes is
  ``BASE`` or ``BASE[qualifier]`` with ``BASE`` declared in
  :attr:`Experiment.claims`.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "EXPERIMENTS",
    "STUDIES",
    "Experiment",
    "Figure",
    "by_rules",
    "check_config",
    "commands",
    "experiment",
    "figures",
    "module_files",
]

# The papers, by study key (the top-level config sections), in report order.
STUDIES: dict[str, str] = {
    "zhang2021": "Zhang et al., Why Lottery Ticket Wins? A Theoretical Perspective of Sample Complexity on "
    "Sparse Neural Networks (NeurIPS 2021)",
    "pensia2020": "Pensia et al., Optimal Lottery Tickets via SubsetSum: Logarithmic Over-Parameterization "
    "is Sufficient (NeurIPS 2020)",
    "malach2020": "Malach et al., Proving the Lottery Ticket Hypothesis: Pruning is All You Need (ICML 2020)",
}
STUDIES_DIR = Path(__file__).resolve().parent / "studies"
RULE_FAMILIES = ("agd", "imp", "subsetsum", "edgepopup", "construct")


@dataclass(frozen=True)
class Figure:
    """One figure: ``id`` (``EXP`` or ``EXP_PANEL``) and the experiment tables it reads."""

    id: str
    tables: tuple[str, ...]

    @property
    def panel(self) -> str | None:
        """The key under ``plot`` holding this figure's settings (None: ``plot`` itself)."""
        return self.id.partition("_")[2] or None

    def settings(self, section: dict[str, Any]) -> dict[str, Any]:
        """This figure's plot settings in its experiment's config section (z3_a: ``plot.a``)."""
        plot = section["plot"]
        return plot[self.panel] if self.panel else plot


@dataclass(frozen=True)
class Experiment:
    """One experiment, as its folder declares it.

    ``rules`` names the family of workflow rules that computes it
    (``workflow/rules/<rules>.smk``): ``agd`` (one trials job per r), ``imp``,
    ``subsetsum``, ``edgepopup`` or ``construct``. ``commands`` are its ``ltpipe``
    subcommands as ``{name: "module:function"}``; ``gathered`` the tables
    concatenated from per-job parts, named by ``parts(section)`` (the
    experiment's config section) in gathering order; ``claim_tables`` the tables
    the claims read (default: all); ``needs`` the data nodes it reads
    (``mnist``); ``check(section)`` returns what the schema cannot say about the
    section, one message per problem, each starting with the key's dotted path
    below the section (empty: nothing wrong).
    """

    id: str
    study: str
    title: str
    rules: str
    tables: tuple[str, ...]
    figures: tuple[Figure, ...]
    claims: tuple[str, ...]
    commands: dict[str, str] = field(default_factory=dict)
    gathered: tuple[str, ...] = ()
    parts: Callable[[dict[str, Any]], list[str]] | None = None
    claim_tables: tuple[str, ...] | None = None
    needs: tuple[str, ...] = ()
    check: Callable[[dict[str, Any]], list[str]] | None = None

    def table(self, name: str) -> str:
        """The path of one of its tables, relative to the workflow's working directory."""
        if name not in self.tables:
            raise KeyError(f"{self.id} has no table {name!r} (tables: {', '.join(self.tables)})")
        return f"results/{self.study}/{self.id}/{name}.parquet"

    def part_tables(self, name: str, section: dict[str, Any]) -> list[str]:
        """The per-job tables that gathered table ``name`` is concatenated from, in gathering order."""
        if name not in self.gathered or self.parts is None:
            raise KeyError(f"{self.id}: table {name!r} is not gathered from parts")
        return [f"results/{self.study}/{self.id}/parts/{p}.{name}.parquet" for p in self.parts(section)]

    @property
    def claims_reads(self) -> tuple[str, ...]:
        return self.tables if self.claim_tables is None else self.claim_tables

    @property
    def folder(self) -> str:
        """Its folder, relative to the package: ``studies/STUDY/EXP``."""
        return f"studies/{self.study}/{self.id}"

    def module(self, name: str) -> str:
        """The dotted name of one of its modules, relative to the package (``studies.zhang2021.z3.figure``)."""
        return f"studies.{self.study}.{self.id}.{name}"


def _problems(e: Experiment, folder: str) -> list[str]:
    """What is wrong with one declaration (the tests check the rest: configs, schema, functions, captions)."""
    out = []
    if e.id != folder:
        out.append(f"its id {e.id!r} is not its folder's name")
    if e.study not in STUDIES:
        out.append(f"unknown study {e.study!r}")
    if e.rules not in RULE_FAMILIES:
        out.append(f"rules {e.rules!r} is none of {', '.join(RULE_FAMILIES)}")
    if not (set(e.gathered) <= set(e.tables) and set(e.claims_reads) <= set(e.tables)):
        out.append("gathered and claim tables must be among its tables")
    if e.gathered and e.parts is None:
        out.append("gathered tables need parts")
    if not e.figures or not e.claims:
        out.append("it needs a figure and a claim")
    for f in e.figures:
        if not (f.id == e.id or f.id.startswith(f"{e.id}_")) or not f.tables or not set(f.tables) <= set(e.tables):
            out.append(f"figure {f.id!r}: its id is EXP or EXP_PANEL and it reads some of the tables")
    out += [f"claim {c!r} is not {e.id}.NAME" for c in e.claims if not c.startswith(f"{e.id}.") or "[" in c]
    return out


def _collect() -> tuple[Experiment, ...]:
    found = []
    for study in STUDIES:
        for folder in sorted(p.parent.name for p in (STUDIES_DIR / study).glob("*/declaration.py")):
            e = importlib.import_module(f"ltpipe.studies.{study}.{folder}.declaration").EXPERIMENT
            if problems := _problems(e, folder):
                raise ValueError(f"ltpipe/studies/{study}/{folder}/declaration.py: " + "; ".join(problems))
            found.append(e)
    ids = [e.id for e in found]
    figs = [f.id for e in found for f in e.figures]
    if len(set(ids)) != len(ids) or len(set(figs)) != len(figs):
        raise ValueError("experiment and figure ids must be unique across studies")
    return tuple(found)


EXPERIMENTS: tuple[Experiment, ...]  # every declaration, collected on first use (below)
_CACHE: list[tuple[Experiment, ...]] = []


def _all() -> tuple[Experiment, ...]:
    if not _CACHE:
        _CACHE.append(_collect())
    return _CACHE[0]


def __getattr__(name: str) -> Any:
    # EXPERIMENTS is collected on first use, so that a declaration can import this module's classes
    if name == "EXPERIMENTS":
        return _all()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def experiment(exp_id: str) -> Experiment:
    """The experiment ``exp_id``; a KeyError names the known ones."""
    for exp in _all():
        if exp.id == exp_id:
            return exp
    raise KeyError(f"unknown experiment {exp_id!r}; known: {', '.join(e.id for e in _all())}")


def by_rules(family: str) -> list[Experiment]:
    """The experiments computed by the rules of ``family`` (``workflow/rules/<family>.smk``)."""
    return [e for e in _all() if e.rules == family]


def figures() -> list[tuple[Experiment, Figure]]:
    """Every figure with its experiment, in registry order."""
    return [(e, f) for e in _all() for f in e.figures]


def commands() -> dict[str, str]:
    """Every experiment's ``ltpipe`` subcommands, ``{name: "module:function"}``."""
    out: dict[str, str] = {}
    for e in _all():
        for name, target in e.commands.items():
            if out.setdefault(name, target) != target:
                raise ValueError(f"subcommand {name!r} is declared twice with different targets")
    return out


def check_config(config: dict[str, Any]) -> list[str]:
    """Every declaration's own checks of its config section, as ``  STUDY.EXP.KEY: message`` lines."""
    lines = []
    for e in _all():
        section = (config.get(e.study) or {}).get(e.id)
        if e.check is not None and isinstance(section, dict):
            lines += [f"  {e.study}.{e.id}.{problem}" for problem in e.check(section)]
    return lines


_IMPORT = re.compile(
    r"^[ \t]*(?:from[ \t]+(ltpipe(?:\.\w+)*)[ \t]+import[ \t]+(\([^)]*\)|[\w \t,]+)|import[ \t]+(ltpipe(?:\.\w+)+))",
    re.M,
)


def _module_file(package_root: Path, dotted: str) -> Path | None:
    """The source file of module ``ltpipe.<dotted>`` (a package's ``__init__.py``), or None."""
    base = package_root.joinpath(*dotted.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def module_files(package_root: str | Path, *modules: str) -> list[str]:
    """The source files of ``modules`` (dotted, relative to the package: ``"studies.zhang2021.z6.job"``) and of
    every ltpipe module they import, directly or not, including the ``__init__.py`` of each package on the way.

    A rule lists these as inputs, so that editing a module reruns exactly the jobs that run it. Imports
    are read from the source text: ``from ltpipe.a.b import c`` adds ``a/b.py`` and, when ``c`` is a
    module, ``a/b/c.py``; ``import ltpipe.a.b`` adds ``a/b.py``. The paths are ``package_root`` joined
    with each file's path inside the package (pass a relative root for relative paths).
    """
    root = Path(package_root)
    seen: set[Path] = set()
    todo = list(modules)
    while todo:
        dotted = todo.pop()
        path = _module_file(root, dotted)
        if path is None:
            raise FileNotFoundError(f"no module ltpipe.{dotted} under {root}")
        if path in seen:
            continue
        seen.add(path)
        parts = dotted.split(".")
        for i in range(len(parts)):  # the packages it lives in
            seen.add(root.joinpath(*parts[:i], "__init__.py"))
        for source, names, plain in _IMPORT.findall(path.read_text()):
            module = (source or plain).split(".", 1)[1] if "." in (source or plain) else ""
            if module:
                todo.append(module)
            for name in (n.strip() for n in names.strip("()").split(",")) if source else ():
                sub = f"{module}.{name}" if module else name
                if name and _module_file(root, sub) is not None:
                    todo.append(sub)
    return sorted(str(p) for p in seen if p.is_file())
