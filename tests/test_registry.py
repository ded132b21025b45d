"""The declarations agree with the configs, the schema, the figure and claim functions, the captions and the
entry points; each experiment keeps to its own folder; rule code inputs follow imports through subpackages."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ltpipe import registry
from ltpipe.cli import COMMANDS
from ltpipe.config import ConfigError
from ltpipe.studies import study_function
from ltpipe.studies.zhang2021.z3.figure import fig_z3_a

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
        assert e.figures and e.claims and e.title, e.id
        assert all(c.startswith(f"{e.id}.") and "[" not in c for c in e.claims), e.id
        for f in e.figures:
            assert f.id == e.id or f.id.startswith(f"{e.id}_"), f.id
            assert set(f.tables) <= set(e.tables) and f.tables, f.id
        assert e.table(e.tables[0]) == f"results/{e.study}/{e.id}/{e.tables[0]}.parquet"
        with pytest.raises(KeyError, match="no table"):
            e.table("nonexistent")


def test_one_experiment_one_folder_one_name():
    """The folder holds the declaration, the figure(s), the claims and the job(s); the name is the same in the
    config key, the folder, the table paths, the rules' family file and the subcommands it owns."""
    for e in registry.EXPERIMENTS:
        folder = ROOT / "ltpipe" / e.folder
        assert folder.name == e.id and folder.parent.name == e.study, e.id
        for module in ("__init__", "declaration", "figure", "claims"):
            assert (folder / f"{module}.py").is_file(), (e.id, module)
        assert (ROOT / "workflow" / "rules" / f"{e.rules}.smk").is_file(), e.id
        for name, target in e.commands.items():
            module = target.partition(":")[0]
            if module.startswith(f"ltpipe.studies.{e.study}.{e.id}."):  # its own job: named after it
                assert name == e.id or name.startswith(f"{e.id}-"), name
        for table in e.gathered:
            paths = e.part_tables(
                table,
                {
                    "r": [4, 9],
                    "n_samples": [10],
                    "arch": ["a"],
                    "networks": ["n"],
                    "variants": ["v"],
                    "controls": {"modes": [], "n_samples": []},
                },
            )
            assert paths and all(p.startswith(f"results/{e.study}/{e.id}/parts/") for p in paths), e.id


def test_figure_and_claim_functions_match_the_declarations():
    for e in registry.EXPERIMENTS:
        figure = importlib.import_module(f"ltpipe.{e.module('figure')}")
        claims = importlib.import_module(f"ltpipe.{e.module('claims')}")
        defined = {n for n, _ in inspect.getmembers(figure, inspect.isfunction) if n.startswith("fig_")}
        assert defined == {f"fig_{f.id}" for f in e.figures}, e.id
        assert callable(claims.claims), e.id


def test_every_figure_has_its_caption_file():
    report = ROOT / "workflow" / "report"
    for _, f in registry.figures():
        text = (report / f"{f.id}.rst").read_text()
        assert "**Paper:**" in text and "**Ours:**" in text, f.id
    captions = {p.stem for p in report.glob("*.rst")} - {"workflow", "figure", "claims"}
    assert captions == {f.id for _, f in registry.figures()}
    template = (report / "figure.rst").read_text()
    assert ".. include:: {{ snakemake.params.caption }}" in template
    assert "claims.md" in template  # the verdicts are included only once the claims rule has run


def test_what_the_workflow_process_imports_needs_only_jsonschema_and_yaml():
    """The declarations and what the Snakefiles import from ltpipe load no numpy, pandas, torch or plotting
    library, so Snakemake's own environment (--sdm conda, a cluster's login node) can build the DAG."""
    code = (
        "import sys; from ltpipe import registry, schema; registry.EXPERIMENTS; "
        "import ltpipe.data.mnist, ltpipe.data.grid, ltpipe.studies.zhang2021.z7.declaration; "
        "heavy = sorted({'numpy', 'pandas', 'torch', 'scipy', 'matplotlib', 'seaborn', 'pyarrow'} & set(sys.modules)); "
        "print(heavy); sys.exit(bool(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    smk = "\n".join(p.read_text() for p in (ROOT / "workflow" / "rules").glob("*.smk"))
    imported = set(re.findall(r"^from (ltpipe[\w.]*) import", smk, re.M))
    assert imported <= {
        "ltpipe",
        "ltpipe.schema",
        "ltpipe.config",
        "ltpipe.data",
        "ltpipe.data.grid",
        "ltpipe.studies.zhang2021.z7.declaration",
    }, imported


def test_every_entry_point_is_a_documented_subcommand():
    for e in registry.EXPERIMENTS:
        for name, target in e.commands.items():
            assert COMMANDS[name] == target
            module, _, func = target.partition(":")
            assert getattr(importlib.import_module(module), func).__doc__.startswith(f"ltpipe {name}:")


def test_lookups_name_what_is_known():
    assert registry.experiment("z3").figures[1].panel == "b"
    with pytest.raises(KeyError, match="known: z2"):
        registry.experiment("nope")
    assert registry.commands()["agd-trials"].endswith(":trials_main")
    assert [e.id for e in registry.by_rules("imp")] == ["z6", "z7"]


def test_a_declaration_that_breaks_a_convention_is_refused():
    e = registry.experiment("z6")
    assert registry._problems(e, "z6") == []
    bad = dataclasses.replace(e, rules="nope", claims=("z7.rises",), figures=(registry.Figure("z7", ("rounds",)),))
    problems = " ".join(registry._problems(bad, "z6"))
    assert "rules 'nope'" in problems and "claim 'z7.rises'" in problems and "figure 'z7'" in problems
    assert "not its folder's name" in " ".join(registry._problems(e, "z5"))


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

    ps = rel("studies.pensia2020.ps.job")
    assert {"engines/train.py", "engines/subsetsum.py", "data/mnist_subsets.py", "data/mnist.py"} <= ps
    assert not ps & {"engines/prune.py", "studies/zhang2021/z7/job.py", "registry.py", "schema.py"}
    pe = rel("studies.pensia2020.pe.job")
    assert {
        "engines/supermask.py",
        "engines/train.py",
        "data/mnist_subsets.py",
        "studies/pensia2020/pe/__init__.py",
    } <= (pe)
    assert not pe & {"engines/prune.py", "engines/subsetsum.py", "studies/pensia2020/ps/job.py"}
    assert "studies/pensia2020/pe/declaration.py" not in pe
    z6 = rel("studies.zhang2021.z6.job")
    assert {"engines/agd.py", "engines/prune.py", "data/teacher.py", "data/grid.py"} <= z6
    everyone = rel("plotting", "claims", "studies.zhang2021.z3.figure", "studies.zhang2021.z3.claims")
    assert not everyone & {"registry.py", "schema.py", "studies/zhang2021/z3/declaration.py", "engines/agd.py"}
    pc = rel("studies.pensia2020.pc.job")
    assert {"engines/construct.py", "engines/subsetsum.py", "data/mnist_subsets.py", "seeds.py"} <= pc
    assert not pc & {"engines/train.py", "studies/pensia2020/ps/job.py", "engines/random_features.py"}
    mn = rel("studies.malach2020.mn.job")
    assert {"engines/random_features.py", "engines/construct.py", "data/mnist.py"} <= mn
    assert not mn & {"engines/train.py", "data/mnist_subsets.py"}
    # a relative package root gives relative paths (the workflow's code inputs survive a move)
    relative = registry.module_files(Path("ltpipe"), "tables")
    assert relative == ["ltpipe/__init__.py", "ltpipe/tables.py"]


def test_drivers_find_experiment_code_by_convention():
    assert study_function("zhang2021", "z3", "figure", "fig_z3_a") is fig_z3_a
    with pytest.raises(ConfigError, match=r"ltpipe\.studies\.pensia2020\.pl\.figure has no function fig_z2"):
        study_function("pensia2020", "pl", "figure", "fig_z2")
    with pytest.raises(ConfigError, match=r"no module ltpipe\.studies\.pensia2020\.zz\.claims"):
        study_function("pensia2020", "zz", "claims", "claims")
