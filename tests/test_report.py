"""The report a researcher opens: ``snakemake --report`` on the tiny run, opened in headless Chromium.

The Snakemake 9 report is a single-page app: ``results`` (a script in the page) maps each result's path to
its caption and data URI (a relative path in a ``.zip`` report), and ``app.setView`` shows one, as its eye
button does. The checker below shows every figure of the registry that way and waits for the ``<img>`` the
app renders to decode (``naturalWidth > 0``), reads the caption the sidebar shows, and reads the claims table
out of the frame the app opens for it. It drives Chromium through Selenium's WebDriver and Debian's
chromedriver.

Chromium and its driver come from Debian (``apt-get install chromium chromium-driver``; ``.ci/run`` installs
them). Without them the tests skip, unless the environment variable CI is set: then they fail.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import json
import os
import re
import shutil
import types
import zipfile
from pathlib import Path

import jinja2
import pandas as pd
import pytest
import yaml
from conftest import ROOT, snakemake
from docutils.core import publish_parts

from ltpipe import registry
from ltpipe.claims import NOT_RUN, VERDICTS, base_id
from ltpipe.report import experiment_of, figure_rst
from ltpipe.tables import read_table

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
CHROMEDRIVER = shutil.which("chromedriver")
FIGURES = {f"results/figures/{f.id}.png": (e, f) for e, f in registry.figures()}
CLAIMS_ITEM = "results/claims.html"
Category = collections.namedtuple("Category", "name")  # what the report's categories have


class Page:
    """The page of a headless Chromium under WebDriver, with the few things the checks need."""

    def __init__(self, driver):
        self.driver = driver

    def evaluate(self, expression: str):
        """The value of a JavaScript expression (a promise is awaited); a JavaScript exception raises."""
        return self.driver.execute_script(f"return ({expression});")

    def wait_for(self, expression: str, timeout: float = 30):
        """The expression's value once truthy, or its last value after ``timeout`` seconds."""
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(lambda _: self.evaluate(expression))
        except TimeoutException:
            return self.evaluate(expression)

    def open(self, path: Path) -> None:
        """Load a report and wait until its app has rendered."""
        self.driver.get(path.resolve().as_uri())
        ready = "document.readyState === 'complete' && typeof app !== 'undefined' && typeof results !== 'undefined'"
        if not self.wait_for(ready + " && document.querySelector('#app').children.length > 0"):
            raise AssertionError(f"{path}: the report's app did not start")

    def screenshot(self, path: Path) -> Path:
        self.driver.save_screenshot(str(path))
        return path


@contextlib.contextmanager
def chromium(workdir: Path):
    """A headless Chromium driven by Debian's chromedriver; its log under ``workdir``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--allow-file-access-from-files",
        "--window-size=1400,1000",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        f"--user-data-dir={workdir / 'profile'}",
    ):
        options.add_argument(arg)
    service = Service(executable_path=CHROMEDRIVER, log_output=str(workdir / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.set_script_timeout(120)
        yield Page(driver)
    finally:
        driver.quit()


# Shows each result as its eye button does, then waits for the <img> the app renders and decodes it.
SHOW_FIGURES = """
(async (paths) => {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const out = {};
  for (const path of paths) {
    const entry = results[path];
    if (!entry) { out[path] = {problem: "not in the report"}; continue; }
    app.setView({navbarMode: "resultinfo", content: "img", contentPath: entry.data_uri, resultPath: path});
    let img = null, caption = null;
    for (let i = 0; i < 200 && !(img && caption); i++) {
      await sleep(25);
      img = Array.from(document.images).find((x) => x.getAttribute("src") === entry.data_uri);
      caption = document.querySelector("li.prose-invert");
    }
    if (!img) { out[path] = {problem: "the app shows no <img> for it"}; continue; }
    let decoded = true;
    try { await img.decode(); } catch (err) { decoded = false; }
    out[path] = {decoded: decoded, complete: img.complete, width: img.naturalWidth, height: img.naturalHeight,
                 caption: caption ? caption.innerText : ""};
  }
  return out;
})
"""


def check_figures(page: Page, report: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Open ``report`` and show every figure of the registry: ({fig: problem} for each missing or broken
    figure, {fig: the caption the sidebar showed} for each figure shown)."""
    page.open(report)
    shown = page.evaluate(f"{SHOW_FIGURES.strip()}({json.dumps(list(FIGURES))})")
    problems, captions = {}, {}
    for path, (_, fig) in FIGURES.items():
        info = shown[path]
        if "problem" in info:
            problems[fig.id] = info["problem"]
        elif not (info["decoded"] and info["complete"] and info["width"] > 0 and info["height"] > 0):
            problems[fig.id] = f"the image does not load ({info})"
        else:
            captions[fig.id] = info["caption"]
    return problems, captions


def claims_table(page: Page) -> list[list[str]]:
    """Show the claims item as its eye button does and read the table rows out of the frame it opens."""
    item = json.dumps(CLAIMS_ITEM)
    page.evaluate(
        f"app.setView({{navbarMode: 'resultinfo', content: 'html', contentPath: results[{item}].data_uri, "
        f"resultPath: {item}}}) || true"
    )
    assert page.wait_for("document.querySelector('iframe') !== null"), "the app opens no frame for the claims"
    page.driver.switch_to.frame(page.driver.find_element("css selector", "iframe"))
    try:
        rows = page.wait_for(
            "document.readyState === 'complete' && document.querySelectorAll('tbody tr').length > 0 && "
            "Array.from(document.querySelectorAll('tbody tr'), (tr) => Array.from(tr.cells, (td) => td.innerText))"
        )
    finally:
        page.driver.switch_to.default_content()
    assert rows, "the claims frame shows no table"
    return rows


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if CHROMIUM is None or CHROMEDRIVER is None:
        reason = (
            "Chromium or its driver is not installed (apt-get install chromium chromium-driver): the report is not "
            "checked in a browser"
        )
        if os.environ.get("CI"):
            pytest.fail(reason + "; CI must install it")
        pytest.skip(reason)
    with chromium(tmp_path_factory.mktemp("chromium")) as page:
        yield page


@pytest.fixture(scope="module")
def reports(finished_run, tmp_path_factory):
    """The tiny run's report as report.html and as report.zip (unpacked), and the run's directory."""
    one = finished_run
    out = tmp_path_factory.mktemp("report")
    snakemake(one, "--report", str(out / "report.html"))
    snakemake(one, "--report", str(out / "report.zip"))
    with zipfile.ZipFile(out / "report.zip") as archive:
        archive.extractall(out / "unzipped")
    return out / "report.html", out / "unzipped" / "report" / "report.html", one


def caption_title(fig: str) -> str:
    """The first line of a figure's caption file, its title, without the bold markup."""
    return (ROOT / "workflow" / "report" / f"{fig}.rst").read_text().splitlines()[0].strip("*")


def assert_captions(captions: dict[str, str], one: Path) -> None:
    """Every figure's caption: the paper's finding, ours, and every claim of its experiment with its verdict."""
    for e, fig in registry.figures():
        text = captions[fig.id]
        assert caption_title(fig.id).split(":")[0] in text, fig.id
        assert "Paper:" in text and "Ours:" in text, fig.id
        claims = read_table(one / "results" / "claims" / f"{e.id}.parquet")
        assert set(claims["id"].map(base_id)) == set(e.claims), fig.id
        for row in claims.itertuples():
            assert f"{row.verdict} {row.id}" in text, (fig.id, row.id)


@pytest.mark.workflow
def test_html_report_shows_every_figure_with_its_caption_and_verdicts(browser, reports, tmp_path):
    html, _, one = reports
    # the first page: the workflow description, its title in view, with the papers and the config's scale
    browser.open(html)
    print(f"screenshot of the report's first page: {browser.screenshot(tmp_path / 'report-first-page.png')}")
    title = "ltpipe: three lottery-ticket papers, reproduced"
    heading = browser.evaluate(
        "(() => { const h = document.querySelector('h1.title'); "
        "return [h.innerText, h.getBoundingClientRect().top]; })()"
    )
    assert heading[0] == title and 0 <= heading[1] < 200, heading  # in view, not scrolled off the top
    text = browser.evaluate("document.body.innerText")
    for paper in ("Why Lottery Ticket Wins?", "Optimal Lottery Tickets via SubsetSum", "Pruning is All You Need"):
        assert paper in text
    assert "Seed 2021" in text and "dtype float64" in text
    # every figure loads, and its caption has the paper's finding, ours and its experiment's verdicts
    problems, captions = check_figures(browser, html)
    assert problems == {}
    assert_captions(captions, one)
    # the claims as a table, one row per claim, as the claims table has them
    rows = claims_table(browser)
    print(f"screenshot of the claims table: {browser.screenshot(tmp_path / 'report-claims.png')}")
    claims = read_table(one / "results" / "claims.parquet")
    assert [(r[0], r[1]) for r in rows] == list(zip(claims["verdict"], claims["id"], strict=True))
    assert {r[0] for r in rows} <= set(VERDICTS)


@pytest.mark.workflow
def test_zip_report_shows_every_figure_too(browser, reports):
    _, unzipped, one = reports
    problems, captions = check_figures(browser, unzipped)
    assert problems == {}
    assert_captions(captions, one)


@pytest.mark.workflow
def test_the_checker_catches_a_missing_and_a_broken_figure(browser, reports, tmp_path):
    html, _, _ = reports
    text = html.read_text()
    script = re.search(r'(<script id="results">\s*var results = )(.*?)(;\s*</script>)', text, re.S)
    results = json.loads(script.group(2))
    missing, broken = "results/figures/z6.png", "results/figures/ps.png"
    del results[missing]
    results[broken]["data_uri"] = "data:image/png;base64," + base64.b64encode(b"not a PNG at all").decode()
    bad = tmp_path / "bad.html"
    bad.write_text(text[: script.start(2)] + json.dumps(results) + text[script.end(2) :])
    problems, _ = check_figures(browser, bad)
    assert set(problems) == {"z6", "ps"}
    assert problems["z6"] == "not in the report"
    assert problems["ps"].startswith("the image does not load")


def test_verdicts_rst_lists_every_claim_of_the_experiment_and_renders_cleanly():
    claims = pd.DataFrame(
        [
            {
                "id": "x.a[k=1]",
                "claim": "a rises | *fast*",
                "value": 2.0,
                "op": ">",
                "threshold": 1.0,
                "verdict": "pass",
                "detail": "",
            },
            {
                "id": "x.a[k=2]",
                "claim": "a rises",
                "value": float("nan"),
                "op": ">",
                "threshold": 1.0,
                "verdict": "fail",
                "detail": "",
            },
            {
                "id": "x.b",
                "claim": "x: not run",
                "value": float("nan"),
                "op": "",
                "threshold": float("nan"),
                "verdict": NOT_RUN,
                "detail": "MNIST unavailable: no train-images-idx3-ubyte",
            },
        ]
    )
    text = figure_rst("x", claims)
    html = publish_parts(text, writer_name="html", settings_overrides={"report_level": 1})["body"]
    assert "system-message" not in html and '<tt class="docutils literal">x.a[k=1]</tt>' in html
    assert "- **pass** ``x.a[k=1]``: a rises \\| \\*fast\\* (2 \\> 1)" in text
    assert "- **fail** ``x.a[k=2]``: a rises (nan \\> 1)" in text
    assert "- **not run** ``x.b``: MNIST unavailable\\: no train\\-images\\-idx3\\-ubyte\n" in text
    assert "1 pass, 1 fail, 1 not run" in text
    assert [experiment_of(f, ["pc", "mw", "z3"]) for f in ("pc_mw", "mw", "z3_a")] == ["pc", "mw", "z3"]


@pytest.mark.parametrize("config", ["config/config.yaml", "config/paper.yaml", ".test/config/config.yaml"])
@pytest.mark.parametrize("categories", [("Figures", "Claims"), ("Figures",)])
def test_workflow_description_renders_every_config(config, categories):
    """The front page renders, as Snakemake renders it (Jinja, then docutils, with a link per category), from
    each config we ship: after a whole run, and after a run of one figure (no claims yet)."""
    cfg = yaml.safe_load((ROOT / config).read_text())
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    text = env.from_string((ROOT / "workflow" / "report" / "workflow.rst").read_text()).render(
        snakemake=types.SimpleNamespace(config=cfg),
        categories={Category(c): {} for c in categories},
    )
    links = "\n\n" + "".join(f".. _{c}: javascript:app.showCategory('{c}')\n" for c in categories)
    html = publish_parts(text + links, writer_name="html", settings_overrides={"report_level": 1})["html_body"]
    assert "system-message" not in html
    assert f"Seed {cfg['seed']}" in html and f"Z2: K = {cfg['zhang2021']['z2']['k']}" in html
    assert ("holds every claim" in html) == ("Claims" in categories)


@pytest.mark.parametrize("fig", sorted(f.id for _, f in registry.figures()))
def test_every_caption_renders_as_the_report_renders_it(fig, tmp_path, monkeypatch):
    """The figure template with its caption file, and its verdicts only once the claims exist, render cleanly."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(ROOT / "workflow" / "report", tmp_path / "report")
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    template = env.from_string((ROOT / "workflow" / "report" / "figure.rst").read_text())
    snake = types.SimpleNamespace(
        params=types.SimpleNamespace(caption=f"report/{fig}.rst"), wildcards=types.SimpleNamespace(fig=fig)
    )
    alone = template.render(snakemake=snake, files=[types.SimpleNamespace(target=f"{fig}.png")])
    html = publish_parts(alone, writer_name="html", settings_overrides={"report_level": 1})["body"]
    assert "system-message" not in html and "<strong>Paper:</strong>" in html and "<strong>Ours:</strong>" in html
    (tmp_path / "results" / "report").mkdir(parents=True)
    (tmp_path / "results" / "report" / f"{fig}.rst").write_text("**Claims of X**: 1 pass.\n")
    after = template.render(snakemake=snake, files=[types.SimpleNamespace(target=t) for t in ("claims.md", "x.png")])
    html = publish_parts(after, writer_name="html", settings_overrides={"report_level": 1})["body"]
    assert "system-message" not in html and "<strong>Claims of X</strong>" in html
