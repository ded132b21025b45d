"""The report a researcher opens: ``snakemake --report`` on the tiny run, opened in headless Chromium.

The Snakemake 9 report is a single-page app: ``results`` (a script in the page) maps each result's path to
its caption and data URI (a relative path in a ``.zip`` report), and ``app.setView`` shows one, as its eye
button does. The checker below shows every figure of the registry that way and waits for the ``<img>`` the
app renders to decode (``naturalWidth > 0``), reads the caption the sidebar shows, and reads the claims table
out of the frame the app opens for it. It talks to Chromium over the DevTools protocol with a small
websocket client from the standard library.

Chromium comes from Debian (``apt-get install chromium``). Without it the tests skip, unless the environment
variable CI is set: then they fail.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import types
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

import jinja2
import pandas as pd
import pytest
import yaml
from conftest import ROOT, snakemake
from docutils.core import publish_parts

from ltpipe import registry
from ltpipe.claims import NOT_RUN, base_id
from ltpipe.report import experiment_of, figure_rst
from ltpipe.tables import read_table

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
FIGURES = {f"results/figures/{f.id}.png": (e, f) for e, f in registry.figures()}
CLAIMS_ITEM = "results/claims.html"
Category = collections.namedtuple("Category", "name")  # what the report's categories have


class DevTools:
    """A Chrome DevTools Protocol session with one page target, over a minimal websocket client."""

    def __init__(self, ws_url: str, timeout: float = 60):
        url = urllib.parse.urlparse(ws_url)
        self.sock = socket.create_connection((url.hostname, url.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET {url.path} HTTP/1.1\r\nHost: {url.hostname}:{url.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("DevTools closed the connection during the handshake")
            head += chunk
        head, _, self.buffer = head.partition(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(f"websocket handshake refused: {head[:200]!r}")
        self.next_id = 0
        self.events: list[dict] = []

    def _exactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buffer)))
            if not chunk:
                raise ConnectionError("DevTools closed the connection")
            self.buffer += chunk
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        header = bytes([0x80 | opcode])
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 1 << 16:
            header += bytes([0x80 | 126]) + n.to_bytes(2, "big")
        else:
            header += bytes([0x80 | 127]) + n.to_bytes(8, "big")
        mask = os.urandom(4)
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes((mask * (n // 4 + 1))[:n], "big")).to_bytes(n, "big")
        self.sock.sendall(header + mask + masked)

    def _receive(self) -> dict:
        parts = []
        while True:
            b0, b1 = self._exactly(2)
            n = b1 & 0x7F
            if n == 126:
                n = int.from_bytes(self._exactly(2), "big")
            elif n == 127:
                n = int.from_bytes(self._exactly(8), "big")
            mask = self._exactly(4) if b1 & 0x80 else b""
            payload = self._exactly(n)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            opcode = b0 & 0x0F
            if opcode == 0x8:
                raise ConnectionError("DevTools closed the websocket")
            if opcode == 0x9:
                self._send_frame(0xA, payload)
                continue
            if opcode in (0x0, 0x1, 0x2):
                parts.append(payload)
                if b0 & 0x80:
                    return json.loads(b"".join(parts))

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self._send_frame(0x1, json.dumps({"id": self.next_id, "method": method, "params": params}).encode())
        while True:
            msg = self._receive()
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]
            self.events.append(msg)

    def evaluate(self, expression: str, context: int | None = None):
        """The value of a JavaScript expression (promises awaited); a JavaScript exception raises."""
        params = {"expression": expression, "awaitPromise": True, "returnByValue": True}
        if context is not None:
            params["contextId"] = context
        result = self.call("Runtime.evaluate", **params)
        if "exceptionDetails" in result:
            raise RuntimeError(f"JavaScript failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30, context: int | None = None):
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression, context)
            if value or time.monotonic() > deadline:
                return value
            time.sleep(0.1)

    def open(self, path: Path) -> None:
        """Load a report and wait until its app has rendered."""
        self.call("Page.navigate", url=path.resolve().as_uri())
        ready = "document.readyState === 'complete' && typeof app !== 'undefined' && typeof results !== 'undefined'"
        if not self.wait_for(ready + " && document.querySelector('#app').children.length > 0"):
            raise AssertionError(f"{path}: the report's app did not start")

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))
        return path

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


@contextlib.contextmanager
def chromium(workdir: Path):
    """A headless Chromium and a DevTools session on its page."""
    profile = workdir / "profile"
    log = (workdir / "chromium.log").open("w")
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]
    args += ["--no-default-browser-check", "--allow-file-access-from-files", "--window-size=1400,1000"]
    args += ["--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"]
    port_file = profile / "DevToolsActivePort"
    port_file.unlink(missing_ok=True)
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    session = None
    try:
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"Chromium did not start: {(workdir / 'chromium.log').read_text()[-2000:]}")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as response:
            pages = [t for t in json.load(response) if t["type"] == "page"]
        session = DevTools(pages[0]["webSocketDebuggerUrl"])
        session.call("Page.enable")
        session.call("Runtime.enable")
        yield session
    finally:
        if session is not None:
            session.close()
        with contextlib.suppress(ProcessLookupError):  # the browser and its helpers: the group it leads
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


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


def check_figures(page: DevTools, report: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Open ``report`` and show every figure of the registry: ({fig: problem} for each missing or broken
    figure, {fig: the caption the sidebar showed} for each figure shown)."""
    page.open(report)
    shown = page.evaluate(f"{SHOW_FIGURES}({json.dumps(list(FIGURES))})")
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


def claims_table(page: DevTools) -> list[list[str]]:
    """Show the claims item as its eye button does and read the table rows out of the frame it opens."""
    item = json.dumps(CLAIMS_ITEM)
    page.evaluate(
        f"app.setView({{navbarMode: 'resultinfo', content: 'html', contentPath: results[{item}].data_uri, "
        f"resultPath: {item}}}); true"
    )
    assert page.wait_for("document.querySelector('iframe') !== null"), "the app opens no frame for the claims"
    deadline = time.monotonic() + 30
    while True:
        frames = page.call("Page.getFrameTree")["frameTree"].get("childFrames", [])
        if frames:
            world = page.call("Page.createIsolatedWorld", frameId=frames[0]["frame"]["id"])["executionContextId"]
            rows = page.wait_for(
                "document.readyState === 'complete' && document.querySelectorAll('tbody tr').length > 0 && "
                "Array.from(document.querySelectorAll('tbody tr'), (tr) => Array.from(tr.cells, (td) => td.innerText))",
                timeout=5,
                context=world,
            )
            if rows:
                return rows
        if time.monotonic() > deadline:
            raise AssertionError("the claims frame shows no table")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if CHROMIUM is None:
        reason = "Chromium is not installed (apt-get install chromium): the report is not checked in a browser"
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
    assert {r[0] for r in rows} <= {"pass", "fail", NOT_RUN}


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
