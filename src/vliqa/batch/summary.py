"""The protocol-review view of a batch run: scores by scanner, protocol, study date and series, as tables,
PNG plots and one HTML page.

A protocol is kVp, the series' median mAs in bins (`MAS_BINS`), the kernel and the slice thickness; a scanner is
manufacturer and model. Slices are grouped through their series, so a series whose tube current is modulated
stays in one mAs bin.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from matplotlib.figure import Figure

from vliqa.batch.store import SERIES_FILE, read_slices
from vliqa.core import LEVEL_NAMES, level_of
from vliqa.errors import BatchStateError, PermissionDeniedError
from vliqa.io.atomic import atomic_path, atomic_write_text

#: Upper edges of the mAs bins of a protocol (the last bin is open).
MAS_BINS = (50.0, 100.0, 200.0, 400.0)
#: Groups shown in the protocol plot (most slices first); the tables list them all.
MAX_PLOTTED_GROUPS = 15
WORST_SERIES_SHOWN = 10
PLOT_FILES = {"scanner": "scores_by_scanner.png", "protocol": "scores_by_protocol.png",
              "date": "scores_by_date.png", "histogram": "score_histogram.png"}


@dataclass(frozen=True)
class GroupStats:
    """Score statistics of the slices of one group (a scanner, a protocol, a study date)."""

    key: str
    n_series: int
    n_slices: int
    mean: float
    median: float
    p10: float
    min: float
    #: share of slices whose level is poor or bad (score below 2)
    poor_fraction: float


@dataclass
class BatchSummary:
    """A batch output read back and grouped: what `vliqa batch summarize` prints, plots and writes as HTML."""

    out_dir: str
    n_slices: int
    n_errors: int
    n_series: int
    by_scanner: list[GroupStats]
    by_protocol: list[GroupStats]
    by_date: list[GroupStats]
    #: the series with the lowest median score, worst first (rows of series.parquet)
    worst_series: list[dict[str, Any]]
    slice_scores: np.ndarray = field(repr=False)
    #: group name -> slice scores, for the box plots
    scanner_scores: dict[str, np.ndarray] = field(repr=False, default_factory=dict)
    protocol_scores: dict[str, np.ndarray] = field(repr=False, default_factory=dict)
    #: (scanner, study date, series median score) per series, for the drift plot
    series_points: list[tuple[str, str | None, float]] = field(repr=False, default_factory=list)


def mas_bin(mas: float | None) -> str:
    """Gives the mAs bin of a protocol, e.g. '100-200 mAs'."""
    if mas is None or not math.isfinite(mas):
        return "mAs ?"
    low = 0.0
    for high in MAS_BINS:
        if mas < high:
            return f"{low:g}-{high:g} mAs" if low else f"<{high:g} mAs"
        low = high
    return f">={MAS_BINS[-1]:g} mAs"


def scanner_label(row: dict[str, Any]) -> str:
    """Gives 'manufacturer model' of a series row ('unknown scanner' when the header names neither)."""
    text = " ".join(str(v) for v in (row.get("manufacturer"), row.get("scanner_model")) if v)
    return text or "unknown scanner"


def protocol_label(row: dict[str, Any]) -> str:
    """Gives 'kVp, mAs bin, kernel, thickness' of a series row, e.g. '120 kVp, 100-200 mAs, B30f, 1 mm'."""
    kvp = f"{row['kvp']:g} kVp" if row.get("kvp") is not None else "kVp ?"
    thick = f"{row['slice_thickness_mm']:g} mm" if row.get("slice_thickness_mm") is not None else "thickness ?"
    return f"{kvp}, {mas_bin(row.get('exposure_mas'))}, {row.get('kernel') or 'kernel ?'}, {thick}"


def read_series(out_dir: str | Path) -> list[dict[str, Any]]:
    """Gives the rows of a finished run's series.parquet."""
    path = Path(out_dir) / SERIES_FILE
    if not path.is_file():
        raise BatchStateError(f"{out_dir}: no {SERIES_FILE}: the batch run has not finished", path=out_dir,
                              hint="rerun the same `vliqa batch` command to finish it, then summarize")
    return pq.read_table(path).to_pylist()


def _stats(key: str, scores: np.ndarray, n_series: int) -> GroupStats:
    return GroupStats(key=key, n_series=n_series, n_slices=int(scores.size), mean=float(np.mean(scores)),
                      median=float(np.median(scores)), p10=float(np.percentile(scores, 10)),
                      min=float(np.min(scores)), poor_fraction=float(np.mean(scores < 2.0)))


def _grouped(scores: np.ndarray, labels: list[str], series_of: list[str]) -> tuple[list[GroupStats], dict]:
    by: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by.setdefault(label, []).append(i)
    stats, arrays = [], {}
    for label, idx in by.items():
        arrays[label] = scores[idx]
        stats.append(_stats(label, arrays[label], len({series_of[i] for i in idx})))
    return stats, arrays


def summarize(out_dir: str | Path) -> BatchSummary:
    """Gives the scores of a finished batch run grouped by scanner, protocol and study date, and its worst series."""
    series = read_series(out_dir)
    info = {r["series_uid"]: r for r in series}
    slices = read_slices(out_dir, columns=["series_uid", "status", "score"]).to_pydict()
    keep = [i for i, (uid, status, score) in enumerate(zip(slices["series_uid"], slices["status"], slices["score"],
                                                           strict=True))
            if status == "ok" and score is not None and uid in info]
    scores = np.array([slices["score"][i] for i in keep], dtype=np.float64)
    uids = [slices["series_uid"][i] for i in keep]
    by_scanner, scanner_scores = _grouped(scores, [scanner_label(info[u]) for u in uids], uids)
    by_protocol, protocol_scores = _grouped(scores, [protocol_label(info[u]) for u in uids], uids)
    by_date, _ = _grouped(scores, [info[u]["study_date"] or "date ?" for u in uids], uids)
    scored = [r for r in series if r["median_score"] is not None]
    return BatchSummary(
        out_dir=str(out_dir), n_slices=int(scores.size),
        n_errors=sum(1 for s in slices["status"] if s == "error"), n_series=len(series),
        by_scanner=sorted(by_scanner, key=lambda g: g.key),
        by_protocol=sorted(by_protocol, key=lambda g: -g.n_slices),
        by_date=sorted(by_date, key=lambda g: g.key),
        worst_series=sorted(scored, key=lambda r: r["median_score"])[:WORST_SERIES_SHOWN],
        slice_scores=scores, scanner_scores=scanner_scores, protocol_scores=protocol_scores,
        series_points=[(scanner_label(r), r["study_date"], r["median_score"]) for r in scored])


# ------------------------------------------------------------ plots


def _save(fig: Figure, path: Path) -> Path:
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=110)
    except PermissionError as exc:
        raise PermissionDeniedError(f"{path}: cannot write the plot ({exc.strerror})", path=path,
                                    hint="choose a --plots folder you may write to") from exc
    return path


def _box(groups: dict[str, np.ndarray], order: list[str], title: str) -> Figure:
    fig = Figure(figsize=(8, 0.45 * len(order) + 1.6), layout="constrained")
    ax = fig.add_subplot()
    ax.boxplot([groups[k] for k in order], vert=False, tick_labels=order, showfliers=False)
    ax.set_xlim(0, 4)
    ax.invert_yaxis()
    ax.set_xlabel("quality score (0 bad - 4 excellent)")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return fig


def _day(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _by_date(points: list[tuple[str, str | None, float]]) -> Figure:
    """Gives each series' median score on a time axis, one colour and a daily-median line per scanner."""
    fig = Figure(figsize=(8, 4), layout="constrained")
    ax = fig.add_subplot()
    for scanner in sorted({s for s, _, _ in points}):
        mine = sorted((day, m) for s, d, m in points if s == scanner and (day := _day(d)) is not None)
        if not mine:
            continue
        line = ax.plot([d for d, _ in mine], [m for _, m in mine], "o", alpha=0.6, label=scanner)[0]
        days = sorted({d for d, _ in mine})
        ax.plot(days, [float(np.median([m for d, m in mine if d == day])) for day in days], "-",
                color=line.get_color())
    ax.set_ylim(0, 4)
    ax.set_ylabel("series median score")
    ax.set_title("Series median score by study date, per scanner (line: median of the day)")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=8)
        fig.autofmt_xdate()
    return fig


def _histogram(scores: np.ndarray) -> Figure:
    fig = Figure(figsize=(8, 3.2), layout="constrained")
    ax = fig.add_subplot()
    ax.hist(scores, bins=np.linspace(0, 4, 41), color="#4a7ab5")
    for edge in (1, 2, 3):
        ax.axvline(edge, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("slice score (levels: bad | poor | fair | good | excellent)")
    ax.set_ylabel("slices")
    ax.set_title(f"All {scores.size} scored slices")
    return fig


def write_plots(summary: BatchSummary, folder: str | Path) -> dict[str, Path]:
    """Writes the four PNG plots (`PLOT_FILES`) into `folder` and gives them by name."""
    folder = Path(folder)
    protocols = [g.key for g in summary.by_protocol[:MAX_PLOTTED_GROUPS]]
    figures = {
        "scanner": _box(summary.scanner_scores, [g.key for g in summary.by_scanner], "Slice scores by scanner"),
        "protocol": _box(summary.protocol_scores, protocols, "Slice scores by protocol (kVp, mAs, kernel, thickness)"),
        "date": _by_date(summary.series_points),
        "histogram": _histogram(summary.slice_scores),
    }
    if not summary.slice_scores.size:
        figures = {"histogram": figures["histogram"]}
    return {name: _save(fig, folder / PLOT_FILES[name]) for name, fig in figures.items()}


# ------------------------------------------------------------ HTML


def _table_html(title: str, groups: list[GroupStats]) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("group", "series", "slices", "mean", "median", "p10", "min",
                                              "poor or bad"))
    body = "".join(
        f"<tr><td>{html.escape(g.key)}</td><td>{g.n_series}</td><td>{g.n_slices}</td><td>{g.mean:.2f}</td>"
        f"<td>{g.median:.2f} ({LEVEL_NAMES[level_of(g.median)]})</td><td>{g.p10:.2f}</td><td>{g.min:.2f}</td>"
        f"<td>{100 * g.poor_fraction:.0f} %</td></tr>" for g in groups)
    return f"<h2>{html.escape(title)}</h2><table><tr>{head}</tr>{body}</table>"


def _series_html(rows: list[dict[str, Any]]) -> str:
    body = "".join(
        f"<tr><td>{html.escape(str(r['series_description'] or r['series_uid']))}</td>"
        f"<td>{html.escape(scanner_label(r))}</td><td>{html.escape(protocol_label(r))}</td>"
        f"<td>{html.escape(str(r['study_date'] or '?'))}</td><td>{r['n_slices']}</td><td>{r['median_score']:.2f}</td>"
        f"<td>{r['min_score']:.2f}</td><td>{html.escape(', '.join(str(i) for i in r['worst_slices']))}</td></tr>"
        for r in rows)
    head = "".join(f"<th>{h}</th>" for h in ("series", "scanner", "protocol", "study date", "slices", "median",
                                              "min", "worst slices"))
    return f"<h2>Lowest-scoring series</h2><table><tr>{head}</tr>{body}</table>"


def write_html(summary: BatchSummary, path: str | Path, plots: dict[str, Path]) -> Path:
    """Writes one self-contained HTML page (plots embedded as PNG data) with the summary's tables."""
    images = "".join(
        f'<img alt="{name}" src="data:image/png;base64,{base64.b64encode(Path(p).read_bytes()).decode()}">'
        for name, p in plots.items())
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>vliqa batch summary</title><style>"
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child{text-align:left}"
        "img{max-width:100%;display:block;margin:1em 0}</style></head><body>"
        f"<h1>Quality of {html.escape(summary.out_dir)}</h1>"
        f"<p>{summary.n_slices} slices scored in {summary.n_series} series; {summary.n_errors} unreadable.</p>"
        + images + _table_html("By scanner", summary.by_scanner) + _table_html("By protocol", summary.by_protocol)
        + _table_html("By study date", summary.by_date) + _series_html(summary.worst_series) + "</body></html>\n")
    return atomic_write_text(path, page)
