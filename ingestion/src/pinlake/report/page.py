"""The report's HTML: one self-contained page rendered from ``templates/report.html.j2``
(Jinja2, HTML autoescaped). plotly.js (the copy the plotly package ships, the version its
figures are made for) and the page's style are inlined once; the charts' figures are one JSON
document in the page (``<script type="application/json" id="figures">``, ``{element id: {data,
layout}}``), drawn by ``Plotly.newPlot`` when the page loads, which marks each chart's element
``data-rendered``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from pinlake.config import TABLES
from pinlake.errors import PinlakeError
from pinlake.lakehouse.counts import DeliveryCounts

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from pinlake.report.charts import Chart

#: plotly.js options of every chart (no Plotly logo; resize with the window).
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
#: Rows shown before a table scrolls (the whole mart is always in the table).
_TABLE_ROWS_VISIBLE = 15


@dataclass
class Section:
    """A mart in the page: its chart, its rows (as exported, text; age groups in the seed's
    order), its figure and the note printed under its table (None: none)."""

    chart: Chart
    frame: pd.DataFrame
    figure: go.Figure
    note: str | None = None

    @property
    def element_id(self) -> str:
        """The id of the chart's element (``chart-<mart>``)."""
        return f"chart-{self.chart.mart}"


def render(
    sections: list[Section],
    *,
    counts: DeliveryCounts | None,
    acknowledged: dict[str, dict[str, int]],
    exports: Path,
    exported_at: datetime,
    generated_at: datetime,
    skipped: list[str],
    stale: str | None = None,
) -> str:
    """The page's HTML: the counts per path and table (acknowledged, landed in raw, quarantined,
    distinct keys, kept in staging, newest landing), the freshness (newest landing, when the
    marts were exported, and ``stale``, the warning when the marts predate the newest landing:
    :func:`pinlake.report.stale_marts`), then ``sections`` in order. Times are shown in UTC."""
    import plotly
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("pinlake.report"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["utc"] = utc
    newest = newest_landing(counts)
    figures = {s.element_id: json.loads(s.figure.to_json(validate=False)) for s in sections}
    return env.get_template("report.html.j2").render(
        sections=[_section(s) for s in sections],
        count_rows=_count_rows(counts, acknowledged),
        counts=counts,
        newest=newest,
        stale=stale,
        exports=exports,
        exported_at=exported_at,
        generated_at=generated_at,
        skipped=skipped,
        plotly_version=plotly.__version__,
        plotly_js=_plotly_js(),
        figures_json=_json_in_script(figures),
        config_json=_json_in_script(PLOTLY_CONFIG),
        visible_rows=_TABLE_ROWS_VISIBLE,
    )


@cache
def _plotly_js() -> str:
    """The plotly package's plotly.min.js, checked to be inlinable (nothing in it can end the
    ``<script>`` element or open an HTML comment there)."""
    from plotly.offline import get_plotlyjs

    code = get_plotlyjs()
    if "</script" in code.lower() or "<!--" in code:
        raise PinlakeError("this plotly.js cannot be inlined in a <script> element")
    return code


def _json_in_script(value: object) -> str:
    """``value`` as JSON that is safe inside a ``<script>`` element: every ``<`` is written
    ``\\u003c`` (the same string to a JSON parser), so no ``</script>`` or ``<!--`` can occur."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).replace("<", "\\u003c")


def utc(moment: datetime | None) -> str:
    """``moment`` as the page shows times (``2024-05-01 12:00:00 UTC``; ``—`` for None)."""
    return "—" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def newest_landing(counts: DeliveryCounts | None) -> datetime | None:
    """The newest landing time the counts saw over both paths and every table (None: no
    counts, or none landed)."""
    if counts is None:
        return None
    latest = [moment for path in counts.paths.values() for moment in path.latest.values()]
    return max(latest, default=None)


def _count_rows(
    counts: DeliveryCounts | None, acknowledged: dict[str, dict[str, int]]
) -> list[dict[str, object]]:
    """A row per delivery path and table (None: a count the caller did not give), leaving out a
    path that delivered nothing (e.g. the stream path of ``pinlake demo --direct``)."""
    if counts is None:
        return []
    rows = []
    for path, got in counts.paths.items():
        acked = acknowledged.get(path, {})
        if not any(got.raw.values()) and not any(got.quarantined.values()) and not acked:
            continue
        for table in TABLES:
            rows.append(
                {
                    "path": path,
                    "table": table,
                    "acknowledged": acked.get(table) if acked else None,
                    "raw": got.raw.get(table),
                    "quarantined": got.quarantined.get(table),
                    "distinct": got.distinct.get(table),
                    "staged": got.staged.get(table),
                    "latest": got.latest.get(table),
                }
            )
    return rows


def _section(section: Section) -> dict[str, object]:
    import pandas as pd

    frame = section.frame
    numeric = [
        bool(len(frame)) and bool(pd.to_numeric(frame[c], errors="coerce").notna().all())
        for c in frame.columns
    ]
    return {
        "id": section.chart.mart,
        "element_id": section.element_id,
        "question": section.chart.question,
        "kind": section.chart.kind,
        "columns": list(zip(frame.columns, numeric, strict=True)),
        "rows": frame.itertuples(index=False, name=None),
        "count": len(frame),
        "note": section.note,
    }
