"""Quality reports as a user meets them: each format written from a real assessment and read back."""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from pathlib import Path

import pytest

from vliqa.core import ASPECTS
from vliqa.errors import DependencyUnavailableError, InvalidParameterError, ReportFormatError, ReportTemplateError
from vliqa.report import (
    TEMPLATES_DIR,
    Report,
    build_report,
    measure_label,
    render_html,
    render_markdown,
    write_report,
)

ASPECT_HEADINGS = ("### Noise", "### Artefacts", "### Sharpness", "### Contrast", "### Texture")


def test_html_report_of_a_series_holds_the_verdict_and_embedded_figures(series_report, tmp_path):
    path = write_report(series_report, None, tmp_path / "report.html")
    html = path.read_text(encoding="utf-8")
    assert f"{series_report.score:.2f}" in html and series_report.level in html
    assert series_report.level_meaning[1:] in html  # capitalised in the verdict
    # the per-slice plot and the heatmaps of the three worst slices, inside the page
    assert html.count('<img src="data:image/png;base64,') == 4
    assert "<style>" in html and "@page" in html and "Tube voltage" in html
    for s in series_report.worst_slices:
        assert f"slice {s.index}" in html


def test_series_report_names_the_worst_slices_and_the_series_summary(series, series_report):
    result, _ = series
    assert series_report.kind == "volume" and series_report.volume == result.summary
    assert series_report.score == pytest.approx(result.summary.mean)
    assert [s.index for s in series_report.worst_slices] == list(result.summary.worst_slices)
    assert [f.kind for f in series_report.figures] == ["plot", "heatmap", "heatmap", "heatmap"]
    assert all(f.png.startswith(b"\x89PNG") and f.path is None for f in series_report.figures)
    assert [f.aspect for f in series_report.findings] == list(ASPECTS)
    rows = {r.key: r for r in series_report.acquisition}
    assert rows["n_slices"].value == "20" and rows["kvp"].unit == "kV"


def test_markdown_report_has_the_aspect_headings_and_links_its_figures(series, assessor, tmp_path):
    result, image = series
    path = write_report(result, image, tmp_path / "out" / "report.md", assessor=assessor)
    text = path.read_text(encoding="utf-8")
    for heading in ("## Overall quality", "## Findings", *ASPECT_HEADINGS, "## Acquisition", "## Physics measures"):
        assert heading in text
    assert "Not computed (assessed without physics measures)" in text
    figures = sorted((tmp_path / "out" / "report_figures").glob("*.png"))
    assert len(figures) == 4
    for png in figures:
        assert f"](report_figures/{png.name})" in text


def test_json_report_round_trips(slice_report, tmp_path):
    path = write_report(slice_report, None, tmp_path / "report.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["kind"] == "vliqa_report" and data["level"] == slice_report.level
    again = Report.from_dict(data)
    assert again.to_dict() == data
    assert again.findings == slice_report.findings and again.measures[0].unit == "HU"


def test_json_of_a_series_round_trips_without_nan(series_report):
    data = json.loads(json.dumps(series_report.to_dict(), allow_nan=False))  # NaN would not be JSON
    assert data["uncertainty"] is None
    assert Report.from_dict(data).to_dict() == data


def test_single_slice_report_has_measures_with_units_and_site_metadata(slice_report, one_slice):
    result, _ = one_slice
    assert slice_report.kind == "slice" and slice_report.volume is None and not slice_report.worst_slices
    assert slice_report.description == result.description and slice_report.score == result.score
    assert [f.kind for f in slice_report.figures] == ["heatmap"]
    measures = {m.key: m for m in slice_report.measures}
    assert measures["noise_sigma_hu"].unit == "HU" and measures["mtf50_lp_per_cm"].unit == "lp/cm"
    assert math.isfinite(measures["noise_sigma_hu"].value)
    assert slice_report.acquisition[-1].value == "Radiology, test hospital"
    text = render_markdown(slice_report)
    assert "| Noise (sigma in soft tissue) |" in text and "Uncertainty ±" in text
    assert "data:image/png;base64," in text  # no folder to link to: inlined


def test_pdf_report_is_a_pdf(slice_report, tmp_path):
    pytest.importorskip("weasyprint")
    path = write_report(slice_report, None, tmp_path / "report.pdf")
    assert path.read_bytes()[:5] == b"%PDF-"
    assert [p.name for p in tmp_path.iterdir()] == ["report.pdf"]  # no temporary file left


def test_pdf_without_weasyprint_says_how_to_install_it(slice_report, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # import weasyprint now raises ImportError
    with pytest.raises(DependencyUnavailableError, match=r"vliqa\[report\]"):
        write_report(slice_report, None, tmp_path / "report.pdf")
    assert not any(tmp_path.iterdir())


def test_unknown_suffix_gives_typed_error_naming_the_formats(slice_report, tmp_path):
    with pytest.raises(ReportFormatError) as info:
        write_report(slice_report, None, tmp_path / "report.docx")
    assert all(s in str(info.value) for s in (".md", ".html", ".pdf", ".json"))
    assert isinstance(info.value, InvalidParameterError) and not any(tmp_path.iterdir())


def test_template_folder_without_the_template_gives_typed_error(slice_report, tmp_path):
    with pytest.raises(ReportTemplateError, match="report.html.j2"):
        write_report(slice_report, None, tmp_path / "report.html", template_dir=tmp_path)
    with pytest.raises(ReportTemplateError, match="does not exist"):
        render_markdown(slice_report, template_dir=tmp_path / "nowhere")


def test_site_template_replaces_the_shipped_one_and_includes_fall_back(slice_report, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "report.html.j2").write_text(
        "<html><style>{% include 'report.css' %}</style><h1>St Elsewhere: {{ report.level }}</h1></html>",
        encoding="utf-8")
    html = render_html(slice_report, template_dir=site)
    assert f"St Elsewhere: {slice_report.level}" in html
    assert (TEMPLATES_DIR / "report.css").read_text(encoding="utf-8")[:40] in html  # the shipped CSS
    (site / "report.css").write_text("body { color: teal; }", encoding="utf-8")
    assert "color: teal" in render_html(slice_report, template_dir=site)


def test_template_errors_are_typed_and_name_the_template(slice_report, tmp_path):
    (tmp_path / "report.md.j2").write_text("{{ report.patient_name }}", encoding="utf-8")
    with pytest.raises(ReportTemplateError, match="patient_name"):
        render_markdown(slice_report, template_dir=tmp_path)
    (tmp_path / "report.md.j2").write_text("{% if %}", encoding="utf-8")
    with pytest.raises(ReportTemplateError, match="line 1"):
        render_markdown(slice_report, template_dir=tmp_path)


def test_report_without_the_image_has_no_figures_or_acquisition(one_slice):
    result, _ = one_slice
    report = build_report(result, metadata={"Protocol": "Abdomen routine"})
    assert report.figures == () and [r.label for r in report.acquisition] == ["Protocol"]
    assert "No acquisition metadata" not in render_markdown(report)


def test_image_that_is_not_the_one_assessed_is_refused(series, one_slice):
    with pytest.raises(InvalidParameterError, match="20 slices"):
        build_report(series[0], one_slice[1])


def test_own_scale_score_has_no_level_or_findings(one_slice):
    result, _ = one_slice
    baseline = dataclasses.replace(result, scale="own", level=None, aspects={}, score=-31.5,
                                   description="brisque gives a score of -31.5 on its own scale.")
    report = build_report(baseline)
    assert report.level is None and report.level_meaning is None and report.findings == ()
    text = render_markdown(report)
    assert "**-31.5**" in text and "own scale" in text and "## Findings" not in text


def test_measure_labels_fall_back_to_the_unit_in_the_key():
    assert measure_label("noise_sigma_hu") == ("Noise (sigma in soft tissue)", "HU")
    assert measure_label("lesion_depth_mm") == ("Lesion depth", "mm")
    assert measure_label("ssim") == ("SSIM against the reference", "")


def test_templates_ship_with_the_package():
    assert {p.name for p in TEMPLATES_DIR.iterdir()} >= {"report.md.j2", "report.html.j2", "report.css"}
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text(encoding="utf-8")
    assert '"report/templates/*"' in pyproject
