"""One self-contained HTML page: the text tables' figures and every chart inlined as a
base64 `data:` URI, so the file can be mailed or opened offline."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence

from edge.report.charts import Chart
from edge.report.tables import Report
from edge.report.text import summary

STYLE = """body{font-family:"IPAexGothic","Noto Sans CJK JP",sans-serif;margin:2em auto;
max-width:1040px;color:#222}h1{font-size:1.5em}img{max-width:100%;height:auto;
border:1px solid #ddd;margin:.5em 0 1.5em}pre{background:#f6f6f6;padding:1em;overflow-x:auto}"""


def page(report: Report, charts: Sequence[Chart]) -> str:
    parts = ["<!DOCTYPE html>", '<html lang="ja">', "<head>", '<meta charset="utf-8">',
             f"<title>Store report {html.escape(report.span())}</title>",
             f"<style>{STYLE}</style>", "</head>", "<body>",
             f"<h1>Store report {html.escape(report.span())}</h1>"]
    for chart in charts:
        data = base64.b64encode(chart.path.read_bytes()).decode("ascii")
        parts += [f"<h2>{html.escape(chart.title)}</h2>",
                  f'<img alt="{html.escape(chart.title)}" src="data:image/png;base64,{data}">']
    parts += ["<h2>Tables</h2>", f"<pre>{html.escape(summary(report))}</pre>", "</body>",
              "</html>"]
    return "\n".join(parts) + "\n"
