"""`vliqa report` and `vliqa.write_report`: one call from a path to a report file; exit 1 on a user error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import vliqa
from vliqa.cli.main import invoke
from vliqa.errors import ReportFormatError


def _slice_file(series: Path) -> str:
    return str(sorted(series.iterdir())[3])


@pytest.mark.slow
def test_report_command_writes_html_of_a_series(abdomen_series, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert invoke(["report", str(abdomen_series), "-o", str(out), "--no-measures", "--title", "QA 2026"]) == 0
    html = out.read_text(encoding="utf-8")
    assert "QA 2026" in html and html.count("data:image/png;base64,") == 4
    assert "wrote" in capsys.readouterr().out


def test_report_command_writes_json_of_a_slice(abdomen_series, tmp_path):
    out = tmp_path / "r.json"
    assert invoke(["report", _slice_file(abdomen_series), "-o", str(out), "--no-measures"]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["input_kind"] == "slice" and data["figures"] == [] and len(data["findings"]) == 5


def test_report_command_exits_1_on_a_bad_suffix_or_template_folder(abdomen_series, tmp_path, capsys):
    assert invoke(["report", str(abdomen_series), "-o", str(tmp_path / "r.txt")]) == 1
    assert ".html" in capsys.readouterr().err
    code = invoke(["report", str(abdomen_series), "-o", str(tmp_path / "r.md"), "--template-dir", str(tmp_path)])
    assert code == 1 and "report.md.j2" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_facade_writes_markdown_with_its_figures_beside_it(abdomen_series, tmp_path):
    out = vliqa.write_report(_slice_file(abdomen_series), tmp_path / "slice.md", measures=False)
    assert out == tmp_path / "slice.md" and "### Texture" in out.read_text(encoding="utf-8")
    assert len(list((tmp_path / "slice_figures").glob("*_heatmap.png"))) == 1
    with pytest.raises(ReportFormatError):
        vliqa.write_report(_slice_file(abdomen_series), tmp_path / "slice.doc")
