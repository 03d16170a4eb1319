"""What people look at, in a real browser: the report of the golden run (pinlake report), the
dbt docs that ``pinlake dbt docs serve`` serves for it and the ingestion API's OpenAPI page, all
opened in headless Chromium.

Chromium is the OS package (``make setup`` installs it, like MariaDB); Playwright drives it
(``executable_path``: nothing is downloaded). The report is opened offline: every request that
is not the report file itself is refused and recorded, console messages and uncaught errors are
collected, and each chart must have been drawn with a mark per row it charts. Reads the golden
run's exports and dbt docs (tests/conftest.py), so it adds only the browser's time.
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from pinlake_testing import isolated_settings
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Route, sync_playwright

from pinlake.config import TABLES
from pinlake.lakehouse.counts import DeliveryCounts, PathCounts
from pinlake.report import ReportOptions, write_report
from pinlake.report.charts import TOP_COUNTRIES, read_mart
from pinlake.services.process import free_ports

pytestmark = [pytest.mark.spark, pytest.mark.slow]

VIEWPORT = {"width": 1280, "height": 900}
#: A chart's marks: its bars, or the number of an indicator.
MARKS = ".barlayer .point path, .indicatorlayer text.number"


@pytest.fixture(scope="module")
def browser() -> Browser:
    """Headless Chromium from the OS package (fails, never skips, when it is missing)."""
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(executable).exists():
        pytest.fail("Chromium is missing: run `make setup` (as root: apt-get install -y chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        yield browser
        browser.close()


class Watched:
    """A page whose console errors and warnings, uncaught errors and failed or refused requests
    are recorded (``problems``): requests to URLs that do not start with one of ``allow`` are
    refused, and the resources of ``known_defects`` (substrings of their URLs) are not counted."""

    def __init__(
        self, browser: Browser, allow: tuple[str, ...], known_defects: tuple[str, ...] = ()
    ) -> None:
        self.page: Page = browser.new_page(viewport=VIEWPORT)
        self.problems: list[str] = []
        self.allow = allow
        self.known_defects = known_defects
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))
        self.page.on("requestfailed", self._failed)
        self.page.route("**/*", self._route)

    def _known(self, url: str) -> bool:
        return any(defect in url for defect in self.known_defects)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning", "assert") and not self._known(
            message.location.get("url", "")
        ):
            self.problems.append(f"console {message.type}: {message.text} {message.location}")

    def _failed(self, request: Request) -> None:
        if not self._known(request.url):
            self.problems.append(f"request failed: {request.url} ({request.failure})")

    def _route(self, route: Route) -> None:
        if route.request.url.startswith(self.allow):
            route.continue_()
        else:
            self.problems.append(f"request outside {self.allow}: {route.request.url}")
            route.abort()

    def close(self) -> None:
        self.page.close()


#: Defects of dbt's own docs page (dbt-core 1.11), requested before its templates are filled
#: in: the favicon's unbuilt ``${require(…)}`` and the tree's ``{{ getIcon(…) }}`` images (404).
DBT_DOCS_DEFECTS = ("$%7Brequire(", "%7B%7B%20getIcon(")
#: Every drawn pixel of the lineage graph's visible canvases (cytoscape draws on several). Each
#: is copied onto a canvas of the probe's own, made for reading (``willReadFrequently``), and
#: read there: reading the page's canvases again at each poll would make Chromium warn on the
#: console ("Multiple readback operations using getImageData..."), a problem of the probe's.
GRAPH_PIXELS = """() => {
    const canvases = [...document.querySelectorAll('#cy canvas')]
        .filter(c => c.offsetParent !== null && c.width > 0 && c.height > 0);
    const drawn = canvases.map(c => {
        const copy = document.createElement('canvas');
        copy.width = c.width;
        copy.height = c.height;
        const context = copy.getContext('2d', {willReadFrequently: true});
        context.drawImage(c, 0, 0);
        const data = context.getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i]) n++;
        return n;
    });
    return drawn.some(n => n > 0) && drawn;
}"""


def golden_counts(golden) -> tuple[DeliveryCounts, dict[str, dict[str, int]]]:
    """The golden run's counts as its stages reported them (what the DAG's land task and the
    stream catch-up landed and quarantined; what the API acknowledged to the producer)."""
    land, streamed = golden.dag_run["xcom"]["land"], golden.streamed
    counts = DeliveryCounts(
        paths={
            "batch": PathCounts(raw=land["records"], quarantined=land["quarantined"]),
            "stream": PathCounts(raw=streamed["records"], quarantined=streamed["quarantined"]),
        }
    )
    acknowledged = {
        path: {t: sum(r.records.get(t, 0) for r in results) for t in TABLES}
        for path, results in golden.produced.items()
    }
    return counts, acknowledged


def expected_marks(mart: str, path: Path) -> int:
    """The marks the chart of ``mart`` draws for its exported rows."""
    frame = read_mart(path)
    if mart == "rpt_most_popular_category_by_country":
        return frame["category"].nunique()  # a bar per category
    if mart == "rpt_most_followed_user_by_country":
        return min(len(frame), TOP_COUNTRIES)
    if mart == "rpt_country_with_most_followed_user":
        return 1  # the number
    return len(frame)  # a bar per row


def png_size(path: Path) -> tuple[int, int]:
    """Width and height of a PNG file (its IHDR chunk); fails when it is not a PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", path
    return struct.unpack(">II", data[16:24])


def test_the_report_renders_every_chart_offline(golden, browser: Browser, tmp_path: Path) -> None:
    counts, acknowledged = golden_counts(golden)
    exports = golden.exports["rpt_users_joined_by_year"].parent
    result = write_report(
        golden.settings,
        ReportOptions(
            exports=exports, out=tmp_path / "report", counts=counts, acknowledged=acknowledged
        ),
    )
    reporting = sorted(m for m in golden.exports if m.startswith("rpt_"))
    assert sorted(result.charts) == reporting

    watched = Watched(browser, allow=(result.path.as_uri(),))
    try:
        page = watched.page
        page.goto(result.path.as_uri())
        page.wait_for_function(
            "[...document.querySelectorAll('.chart')]"
            ".every(chart => chart.dataset.rendered === 'true')",
            timeout=120_000,
        )
        shot = tmp_path / "report.png"
        page.screenshot(path=shot, full_page=True)
        height = page.evaluate("document.documentElement.scrollHeight")
        charts = page.evaluate(
            """marks => [...document.querySelectorAll('.chart')].map(chart => ({
                mart: chart.dataset.mart,
                svg: chart.querySelectorAll('svg.main-svg').length,
                width: chart.getBoundingClientRect().width,
                height: chart.getBoundingClientRect().height,
                marks: chart.querySelectorAll(marks).length,
            }))""",
            MARKS,
        )
        tables = page.evaluate(
            """() => Object.fromEntries([...document.querySelectorAll('table.mart-table')]
                .map(t => [t.dataset.mart, t.tBodies[0].rows.length]))"""
        )
        counted = page.evaluate(
            "() => [...document.querySelectorAll('#counts tbody tr')]"
            ".map(r => [...r.cells].map(c => c.textContent.trim()))"
        )
    finally:
        watched.close()

    assert watched.problems == []  # no script error, no request leaves the file
    assert png_size(shot) == (VIEWPORT["width"], height)
    assert shot.stat().st_size > 50_000  # a page of charts, not a blank one
    assert [c["mart"] for c in charts] == result.charts
    for chart in charts:
        path = golden.exports[chart["mart"]]
        assert chart["svg"] > 0 and chart["width"] > 0 and chart["height"] > 0, chart
        assert chart["marks"] == expected_marks(chart["mart"], path) > 0, chart
        assert tables[chart["mart"]] == result.marts[chart["mart"]] == len(read_mart(path))
    batch_pin = next(row for row in counted if row[:2] == ["batch", "pin"])
    assert batch_pin[2] == f"{acknowledged['batch']['pin']:,}"  # acknowledged
    assert batch_pin[3] == f"{golden.dag_run['xcom']['land']['records']['pin']:,}"  # in raw
    assert Counter(row[0] for row in counted) == {"batch": 3, "stream": 3}


def test_the_dbt_docs_show_the_lineage_graph_and_a_mart(golden, browser, tmp_path) -> None:
    """``pinlake dbt docs serve`` on a free loopback port (no browser of its own), then its
    lineage graph and the page of a mart, as a reader opens them."""
    (port,) = free_ports(1)
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "docs-serve.log"
    pinlake = Path(sys.executable).parent / "pinlake"
    command = [str(pinlake), "dbt", "docs", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("w") as out:
        server = subprocess.Popen(
            [*command, "--no-browser"],
            env={**os.environ, **golden.settings.child_env()},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: pinlake and the dbt it runs
        )
    watched = None
    try:
        _wait_until_served(server, f"{base}/index.html", log)
        watched = Watched(browser, allow=(base,), known_defects=DBT_DOCS_DEFECTS)
        page = watched.page
        # a mart's page: its name, its columns
        mart = "rpt_most_popular_category_by_year"
        page.goto(f"{base}/#!/model/model.pinlake.{mart}")
        page.wait_for_function(
            "name => document.body.innerText.includes(name)"
            " && document.body.innerText.includes('category_count')",
            arg=mart,
            timeout=120_000,
        )
        text = page.inner_text("body")
        for column in ("post_year", "category", "category_count"):
            assert column in text
        page.screenshot(path=tmp_path / "docs-model.png")
        # its lineage graph, opened with the graph button as a reader does
        page.click(".launcher")
        drawn = page.wait_for_function(GRAPH_PIXELS, timeout=120_000, polling=500).json_value()
        nodes = page.evaluate(
            "() => document.querySelector('#cy')._cyreg.cy.nodes().map(n => n.id())"
        )
        shot = tmp_path / "docs-lineage.png"
        page.screenshot(path=shot)
        # the report's exposure links to the report
        page.goto(f"{base}/#!/exposure/exposure.pinlake.aicore_pinterest_report")
        link = page.wait_for_selector("a:has-text('View this exposure')", timeout=60_000)
        href = link.get_attribute("href")
    finally:
        if watched is not None:
            watched.close()
        _stop(server)

    assert png_size(shot) == (VIEWPORT["width"], VIEWPORT["height"])
    assert max(drawn) > 1_000, drawn  # the graph's nodes and edges, not an empty canvas
    assert {f"model.pinlake.{mart}", "exposure.pinlake.aicore_pinterest_report"} <= set(nodes)
    assert href == f"file://{golden.settings.home}/report/index.html"
    assert watched.problems == []


def _wait_until_served(server: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"dbt docs serve exited {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    pytest.fail(f"dbt docs serve did not answer {url} in 180 s:\n{log.read_text()[-3000:]}")


def _stop(server: subprocess.Popen) -> None:
    """Stop the server's process group (pinlake and its dbt child), by its id."""
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(30)


def test_the_api_docs_page_renders_offline(browser: Browser, tmp_path: Path) -> None:
    """The ingestion API's OpenAPI page (README: ``http://127.0.0.1:8082/docs``), under the
    stage and with an API key set, in Chromium with every request outside the API refused:
    Swagger UI draws the API's title and its operations. Its files came from a CDN (FastAPI's
    default), so an offline machine showed a blank page (helper-80); the API serves them now."""
    import threading

    import uvicorn

    from pinlake.config import ApiSettings
    from pinlake.ingest_api import create_app

    port = free_ports(1)[0]
    settings = isolated_settings(tmp_path / "home").model_copy(
        update={"api": ApiSettings(host="127.0.0.1", port=port, api_key="secret")}
    )
    # the page needs no broker: no lifespan (it would open the Kafka clients)
    config = uvicorn.Config(create_app(settings), port=port, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="docs-api", daemon=True)
    thread.start()
    origin = f"http://127.0.0.1:{port}/"
    watched = Watched(browser, allow=(origin,))
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started, "the API did not start"
        watched.page.goto(origin + "test/docs", wait_until="networkidle")
        title = watched.page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
        assert title is not None and "pinlake ingestion API" in title.inner_text()
        paths = watched.page.locator(".opblock-summary-path").all_inner_texts()
        assert "/topics/{topic}" in [p.replace("\u200b", "") for p in paths], paths
        assert watched.problems == []
    finally:
        watched.close()
        server.should_exit = True
        thread.join(10)
