"""Radiological quality reports of an assessment: Markdown, HTML, PDF and JSON, from templates a site can edit.

    from vliqa.report import build_report, render_html, write_report
    result = assessor.assess_loaded(image)
    write_report(result, image, "report.pdf", assessor=assessor)      # .md, .html, .pdf or .json, by suffix
    report = build_report(result, image); html = render_html(report)   # the Report, then any rendering

`vliqa.write_report(path, out)` (the facade) assesses and writes in one call; `vliqa report` is its command.
docs/report.md says how to edit the templates.
"""

from vliqa.report.build import DEFAULT_TITLE, MEASURE_LABELS, build_report, measure_label
from vliqa.report.render import (
    REPORT_FORMATS,
    TEMPLATES_DIR,
    check_output,
    render_html,
    render_json,
    render_markdown,
    render_pdf,
    report_format,
    write_report,
)
from vliqa.report.schema import (
    REPORT_VERSION,
    AspectFinding,
    MeasureRow,
    MetadataRow,
    Report,
    ReportFigure,
    WorstSlice,
)

__all__ = [
    "DEFAULT_TITLE", "MEASURE_LABELS", "REPORT_FORMATS", "REPORT_VERSION", "TEMPLATES_DIR", "AspectFinding",
    "MeasureRow", "MetadataRow", "Report", "ReportFigure", "WorstSlice", "build_report", "check_output",
    "measure_label", "render_html", "render_json", "render_markdown", "render_pdf", "report_format", "write_report",
]
