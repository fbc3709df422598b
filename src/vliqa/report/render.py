"""Reports rendered: Markdown and HTML from Jinja2 templates a site can edit, PDF from the HTML, and JSON.

The templates are `templates/report.md.j2`, `templates/report.html.j2` and `templates/report.css` (included by
the HTML one); `template_dir` replaces them with a site's own (docs/report.md). HTML and PDF carry their
figures inside (base64 PNG); Markdown links them from a folder beside it.
"""

from __future__ import annotations

import base64
import json
import math
import os
from pathlib import Path
from typing import Any

import jinja2

from vliqa.assessment import Assessment, Assessor, VolumeAssessment
from vliqa.core import CTImage, CTVolume
from vliqa.errors import DependencyUnavailableError, ReportFormatError, ReportTemplateError
from vliqa.io.atomic import atomic_path, atomic_write_text
from vliqa.report.build import build_report
from vliqa.report.schema import Report, ReportFigure

#: The output suffixes `write_report` knows, and the format each names.
REPORT_FORMATS = {".md": "markdown", ".html": "html", ".pdf": "pdf", ".json": "json"}
#: The templates shipped with vliqa; a site copies this folder to edit them.
TEMPLATES_DIR = Path(__file__).with_name("templates")
MARKDOWN_TEMPLATE, HTML_TEMPLATE = "report.md.j2", "report.html.j2"
INSTALL_HINT = "pip install 'vliqa[report]'"


def _num(value: Any, spec: str = ".2f") -> str:
    """Gives a number formatted by `spec`, or '—' when there is none (None, NaN)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return format(value, spec)


def _data_uri(figure: ReportFigure) -> str:
    """Gives the figure as a data: URI (base64 PNG), read from its file when the Report holds no pixels."""
    png = figure.png
    if not png and figure.path and Path(figure.path).is_file():
        png = Path(figure.path).read_bytes()
    return f"data:image/png;base64,{base64.b64encode(png).decode('ascii')}" if png else ""


def _template(name: str, template_dir: str | Path | None, *, html: bool) -> jinja2.Template:
    """Gives the named template: from `template_dir` (which must hold it), else the shipped one.

    Templates it includes (the CSS) are looked up in `template_dir` first, then among the shipped ones.
    """
    folders = [TEMPLATES_DIR]
    if template_dir is not None:
        folder = Path(template_dir).expanduser()
        if not folder.is_dir():
            raise ReportTemplateError("the template folder does not exist", path=folder,
                                      hint=f"copy {TEMPLATES_DIR} there and edit the copies")
        if not (folder / name).is_file():
            raise ReportTemplateError(f"the template folder has no {name}", path=folder,
                                      hint=f"copy {TEMPLATES_DIR / name} there and edit it")
        folders.insert(0, folder)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader([str(f) for f in folders]), autoescape=html,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True)
    env.filters["num"] = _num
    env.filters["data_uri"] = _data_uri
    env.tests["finite"] = lambda value: isinstance(value, (int, float)) and math.isfinite(value)
    try:
        return env.get_template(name)
    except jinja2.TemplateSyntaxError as exc:
        raise ReportTemplateError(f"line {exc.lineno}: {exc.message}", path=exc.filename or name,
                                  hint="fix the template (Jinja2 syntax)") from exc
    except jinja2.TemplateNotFound as exc:  # a shipped template missing: a broken install
        raise ReportTemplateError(f"the report template {name} is missing", path=TEMPLATES_DIR,
                                  hint="reinstall vliqa, or pass a template folder") from exc


def _render(name: str, report: Report, template_dir: str | Path | None, *, html: bool, **context: Any) -> str:
    template = _template(name, template_dir, html=html)
    try:
        return template.render(report=report, **context)
    except jinja2.TemplateError as exc:  # a field the template names that the Report has not, an include missing
        raise ReportTemplateError(f"cannot render: {exc}", path=template.filename or name,
                                  hint="the template may only use the fields of vliqa.report.Report "
                                       "(docs/report.md)") from exc


def render_markdown(report: Report, *, template_dir: str | Path | None = None,
                    base_dir: str | Path | None = None) -> str:
    """Gives the report as Markdown; figures kept on disk are linked relative to `base_dir`, others are inlined."""

    def figure_src(figure: ReportFigure) -> str:
        if figure.path and base_dir is not None:
            return Path(os.path.relpath(figure.path, base_dir)).as_posix()
        return figure.path or _data_uri(figure)

    return _render(MARKDOWN_TEMPLATE, report, template_dir, html=False, figure_src=figure_src)


def render_html(report: Report, *, template_dir: str | Path | None = None) -> str:
    """Gives the report as one self-contained HTML page (CSS inline, figures as base64 PNG)."""
    return _render(HTML_TEMPLATE, report, template_dir, html=True, figure_src=_data_uri)


def render_json(report: Report) -> str:
    """Gives the report's JSON form (`Report.to_dict`), indented."""
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"


def render_pdf(report: Report, path: str | Path, *, template_dir: str | Path | None = None) -> Path:
    """Writes the report as PDF (the HTML rendering, laid out by weasyprint), atomically; gives the path."""
    html = render_html(report, template_dir=template_dir)
    weasyprint = _weasyprint()
    with atomic_path(path) as tmp:
        weasyprint.HTML(string=html).write_pdf(str(tmp))
    return Path(path)


def _weasyprint() -> Any:
    try:
        import weasyprint  # lazy: an optional dependency (the `report` extra) that loads Pango
    except (ImportError, OSError) as exc:  # OSError: installed, but its system libraries (Pango) are not
        raise DependencyUnavailableError(f"writing a PDF report needs weasyprint, which cannot be loaded ({exc})",
                                         hint=f"{INSTALL_HINT}, or write .html / .md / .json") from exc
    return weasyprint


def report_format(path: str | Path) -> str:
    """Gives the format ("markdown", "html", "pdf", "json") an output path's suffix names."""
    suffix = Path(path).suffix.lower()
    if suffix not in REPORT_FORMATS:
        raise ReportFormatError(f"cannot write a report as '{suffix or Path(path).name}'", path=path,
                                hint=f"name the output {', '.join(REPORT_FORMATS)}")
    return REPORT_FORMATS[suffix]


def check_output(path: str | Path, *, template_dir: str | Path | None = None) -> str:
    """Gives the format `path` names, once sure it can be written: a known suffix, its template, weasyprint for PDF.

    `write_report` calls it first, so a wrong suffix, a missing template or a missing weasyprint is said before
    the work (assessing a series, drawing its figures) rather than after it.
    """
    fmt = report_format(path)
    if fmt == "pdf":
        _weasyprint()
    if fmt != "json":
        _template(MARKDOWN_TEMPLATE if fmt == "markdown" else HTML_TEMPLATE, template_dir, html=fmt != "markdown")
    return fmt


def write_report(result: Assessment | VolumeAssessment | Report, image: CTImage | CTVolume | None,
                 path: str | Path, *, template_dir: str | Path | None = None, figures_dir: str | Path | None = None,
                 metadata: dict[str, Any] | None = None, assessor: Assessor | None = None,
                 title: str | None = None) -> Path:
    """Writes the report of an assessment (or a Report already built) to `path`, atomically; gives the path.

    The suffix names the format: .md, .html, .pdf or .json. HTML and PDF hold their figures; Markdown links
    them from `figures_dir` (default `<name>_figures/` beside it); JSON names figures only when `figures_dir`
    is given. The other keywords are `build_report`'s; `template_dir`: a site's templates (docs/report.md).
    """
    fmt = check_output(path, template_dir=template_dir)
    path = Path(path)
    if isinstance(result, Report):
        report = result
    else:
        if fmt == "markdown" and figures_dir is None:
            figures_dir = path.parent / f"{path.stem}_figures"
        report = build_report(result, image, metadata=metadata, figures_dir=figures_dir, assessor=assessor,
                              title=title, figures=fmt != "json" or figures_dir is not None)
    if fmt == "pdf":
        return render_pdf(report, path, template_dir=template_dir)
    if fmt == "json":
        return atomic_write_text(path, render_json(report))
    if fmt == "html":
        return atomic_write_text(path, render_html(report, template_dir=template_dir))
    return atomic_write_text(path, render_markdown(report, template_dir=template_dir, base_dir=path.parent))
