"""The store manager's report: tables computed from the event log (read-only, safe beside a
running daemon), a text summary, PNG charts and one self-contained HTML page.

`tables.build` reads the log and computes the tables; `charts`, `text` and `html` present
them; `cli` is `omo-edge report`. See docs/report.md.
"""

from edge.report.period import Period, ReportError, period_from_dates
from edge.report.tables import Names, Report, build

__all__ = ["Names", "Period", "Report", "ReportError", "build", "period_from_dates"]
