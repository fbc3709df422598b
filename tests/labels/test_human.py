from pathlib import Path

import pytest

from vliqa.errors import DatasetError, InputNotFoundError
from vliqa.labels.human import read_human_scores


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "scores.csv"
    p.write_text(text)
    return p


def test_reader_scores_with_and_without_aspects(tmp_path):
    p = write(tmp_path, "path,score,noise\na.png,3.5,2\nb.png,1,\n")
    scores = read_human_scores(p)
    assert [s.path for s in scores] == ["a.png", "b.png"]
    assert scores[0].labels.overall == 3.5 and scores[0].labels.aspects["noise"] == 2.0
    assert scores[0].labels.aspects["texture"] == 3.5  # missing aspect takes the overall score
    assert scores[1].labels.aspects["noise"] == 1.0
    assert all(s.labels.source == "human" for s in scores)


def test_score_outside_scale_names_the_line(tmp_path):
    p = write(tmp_path, "path,score\na.png,7\n")
    with pytest.raises(DatasetError, match=r"scores.csv:2.*outside the 0-4 scale"):
        read_human_scores(p)


def test_non_numeric_score_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="not a number"):
        read_human_scores(write(tmp_path, "path,score\na.png,good\n"))


def test_missing_header_columns(tmp_path):
    with pytest.raises(DatasetError, match="needs columns 'path' and 'score'"):
        read_human_scores(write(tmp_path, "file,rating\na.png,3\n"))


def test_missing_file(tmp_path):
    with pytest.raises(InputNotFoundError):
        read_human_scores(tmp_path / "nope.csv")
