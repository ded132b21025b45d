"""The registry agrees with the configs, the schema, the figure and claim functions and the entry points;
rule code inputs follow imports through subpackages."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest
import yaml

from ltpipe import registry
from ltpipe.cli import COMMANDS
from ltpipe.studies import study_function
from ltpipe.studies.zhang2021.figures import fig_z3_a

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {
    "default": ROOT / "config" / "config.yaml",
    "paper": ROOT / "config" / "paper.yaml",
    "tiny": ROOT / ".test" / "config" / "config.yaml",
}
SCHEMA = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())


def studies_in_use() -> set[str]:
    return {e.study for e in registry.EXPERIMENTS}


@pytest.mark.parametrize("scale", sorted(CONFIGS))
def test_every_config_has_exactly_the_registered_experiments(scale):
    cfg = yaml.safe_load(CONFIGS[scale].read_text())
    for study in studies_in_use():
        registered = {e.id for e in registry.EXPERIMENTS if e.study == study}
        assert set(cfg[study]) == registered, (scale, study)
    for e in registry.EXPERIMENTS:
        section = cfg[e.study][e.id]
        assert isinstance(section.get("claims"), dict), (scale, e.id, "claims thresholds")
        for f in e.figures:
            plot = section["plot"][f.panel] if f.panel else section["plot"]
            assert {"width", "height", "dpi"} <= set(plot), (scale, f.id)


def test_schema_declares_exactly_the_registered_experiments():
    props = SCHEMA["properties"]
    for study in studies_in_use():
        registered = {e.id for e in registry.EXPERIMENTS if e.study == study}
        assert set(props[study]["properties"]) == registered, study
        assert set(props[study]["required"]) == registered, study
        assert study in SCHEMA["required"]
    assert set(studies_in_use()) <= set(registry.STUDIES)


def test_ids_are_unique_and_tables_consistent():
    ids = [e.id for e in registry.EXPERIMENTS]
    figs = [f.id for _, f in registry.figures()]
    assert len(set(ids)) == len(ids) and len(set(figs)) == len(figs)
    for e in registry.EXPERIMENTS:
        assert set(e.gathered) <= set(e.tables) and set(e.claims_reads) <= set(e.tables), e.id
        assert e.figures and e.claims, e.id
        assert all(c.startswith(f"{e.id}.") and "[" not in c for c in e.claims), e.id
        for f in e.figures:
            assert f.id == e.id or f.id.startswith(f"{e.id}_"), f.id
            assert set(f.tables) <= set(e.tables) and f.tables, f.id
            assert len(f.caption) > 40 and "\n" not in f.caption, f.id
        assert e.table(e.tables[0]) == f"results/{e.study}/{e.id}/{e.tables[0]}.parquet"
        with pytest.raises(KeyError, match="no table"):
            e.table("nonexistent")


def test_figure_and_claim_functions_match_the_registry():
    for study in studies_in_use():
        figures = importlib.import_module(f"ltpipe.studies.{study}.figures")
        claims = importlib.import_module(f"ltpipe.studies.{study}.claims")
        declared_figs = {f"fig_{f.id}" for e, f in registry.figures() if e.study == study}
        declared_claims = {f"claims_{e.id}" for e in registry.EXPERIMENTS if e.study == study}
        defined_figs = {n for n, _ in inspect.getmembers(figures, inspect.isfunction) if n.startswith("fig_")}
        defined_claims = {n for n, _ in inspect.getmembers(claims, inspect.isfunction) if n.startswith("claims_")}
        assert defined_figs == declared_figs, study
        assert defined_claims == declared_claims, study


def test_every_entry_point_is_a_documented_subcommand():
    for e in registry.EXPERIMENTS:
        for name, target in e.commands.items():
            assert COMMANDS[name] == target
            module, _, func = target.partition(":")
            assert getattr(importlib.import_module(module), func).__doc__.startswith(f"ltpipe {name}:")


def test_report_captions_come_from_the_registry():
    assert "snakemake.params.caption" in (ROOT / "workflow" / "report" / "figure.rst").read_text()
    rule = (ROOT / "workflow" / "rules" / "figures.smk").read_text()
    assert "caption=lambda w: FIGURES[w.fig][1].caption" in rule


def test_lookups_name_what_is_known():
    assert registry.experiment("z3").figures[1].panel == "b"
    with pytest.raises(KeyError, match="known: z2"):
        registry.experiment("nope")
    assert registry.commands()["zhang2021-trials"].endswith(":trials_main")


def write(path: Path, text: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_module_files_follow_imports_through_subpackages(tmp_path):
    pkg = tmp_path / "ltpipe"
    write(pkg / "__init__.py")
    write(pkg / "a" / "__init__.py")
    write(pkg / "a" / "b" / "__init__.py")
    write(
        pkg / "a" / "b" / "job.py",
        "from ltpipe.x.y import helper\n"  # a function of x/y.py
        "from ltpipe.x import z\n"  # a module z of package x
        "import ltpipe.q\n"
        "from ltpipe.m import (\n    one,\n    two,\n)\n"
        "def f():\n    from ltpipe import top\n",
    )
    write(pkg / "x" / "__init__.py")
    write(pkg / "x" / "y.py", "from ltpipe.deep.er.most import thing\n")
    write(pkg / "x" / "z.py")
    write(pkg / "q.py")
    write(pkg / "m.py")
    write(pkg / "top.py")
    write(pkg / "deep" / "__init__.py")
    write(pkg / "deep" / "er" / "__init__.py")
    write(pkg / "deep" / "er" / "most.py")
    write(pkg / "unused.py")
    got = {str(Path(p).relative_to(pkg)) for p in registry.module_files(pkg, "a.b.job")}
    assert got == {
        "__init__.py",
        "a/__init__.py",
        "a/b/__init__.py",
        "a/b/job.py",
        "x/__init__.py",
        "x/y.py",
        "x/z.py",
        "q.py",
        "m.py",
        "top.py",
        "deep/__init__.py",
        "deep/er/__init__.py",
        "deep/er/most.py",
    }
    with pytest.raises(FileNotFoundError, match=r"ltpipe\.nothing"):
        registry.module_files(pkg, "nothing")


def test_real_code_inputs():
    pkg = ROOT / "ltpipe"

    def rel(*modules):
        return {str(Path(p).relative_to(pkg)) for p in registry.module_files(pkg, *modules)}

    ps = rel("studies.pensia2020.ps")
    assert {"engines/train.py", "engines/subsetsum.py", "data/mnist_subsets.py", "data/mnist.py"} <= ps
    assert not ps & {"engines/prune.py", "studies/zhang2021/z7.py", "registry.py"}
    pe = rel("studies.pensia2020.pe")
    assert {"engines/supermask.py", "engines/train.py", "data/mnist_subsets.py"} <= pe
    assert not pe & {"engines/prune.py", "engines/subsetsum.py", "studies/pensia2020/ps.py"}
    z6 = rel("studies.zhang2021.z6")
    assert {"engines/agd.py", "engines/prune.py", "data/teacher.py", "data/grid.py"} <= z6
    assert "registry.py" not in rel("plotting", "claims", "studies.zhang2021.figures", "studies.zhang2021.claims")
    pc = rel("studies.pensia2020.pc")
    assert {"engines/construct.py", "engines/subsetsum.py", "data/mnist_subsets.py", "seeds.py"} <= pc
    assert not pc & {"engines/train.py", "studies/pensia2020/ps.py", "engines/random_features.py"}
    mn = rel("studies.malach2020.mn")
    assert {"engines/random_features.py", "engines/construct.py", "data/mnist.py"} <= mn
    assert not mn & {"engines/train.py", "data/mnist_subsets.py"}


def test_drivers_find_study_code_by_convention():
    assert study_function("zhang2021", "figures", "fig_z3_a") is fig_z3_a
    with pytest.raises(SystemExit, match=r"ltpipe\.studies\.pensia2020\.claims has no function claims_z2"):
        study_function("pensia2020", "claims", "claims_z2")
