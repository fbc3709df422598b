"""`vliqa evaluate`: score models and baselines against reference or human scores, print a table, write JSON + PNGs."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from vliqa.errors import InvalidParameterError


def _ci(report: object, metric: str) -> str:
    interval = getattr(report, "ci", {}).get(metric)
    if interval is None:
        return ""
    return f" [dim][{interval.low:.3f}, {interval.high:.3f}][/]"


def _num(value: float) -> str:
    return "—" if value != value else f"{value:.3f}"  # NaN != NaN


def results_table(result: object) -> Table:
    """Gives the evaluation as a rich table: one row per predictor, 95 % CIs for SRCC and the LDCTIQAC sum."""
    data = result.data
    where = f"split '{data.split}' of {data.source}" if data.kind == "dataset" else data.source
    table = Table(title=f"Agreement with {'human' if data.kind == 'csv' else 'reference'} scores — {where} "
                        f"(n={len(data.targets)})", title_justify="left")
    for name in ("predictor", "SRCC (95% CI)", "KRCC", "PLCC (logistic)", "RMSE (logistic)", "LDCTIQAC sum (95% CI)",
                 "2AFC acc."):
        table.add_column(name, justify="left" if name == "predictor" else "right")
    for p in result.predictors:
        label = f"{p.name} [dim]({p.kind})[/]"
        r = p.report
        if r is None:
            table.add_row(label, f"[red]failed[/]: {p.error}", "", "", "", "", "")
            continue
        table.add_row(label, _num(r.srcc) + _ci(r, "srcc"), _num(r.krcc), _num(r.plcc_logistic), _num(r.rmse_logistic),
                      _num(r.ldctiqac) + _ci(r, "ldctiqac"), _num(r.pairwise_accuracy))
    return table


def evaluate(
    data: Path = typer.Option(..., "--data",
                              help="A dataset folder (vliqa data build) or a CSV of human scores: path,score."),
    model: list[str]
    = typer.Option([], "--model",
                   help="Checkpoint folder, shipped model name or baseline name such as brisque (repeatable; as `vliqa "
                        "assess --model`)."),
    baselines: str
    | None = typer.Option(None, "--baselines", help="'all' or a comma-separated list such as noise_sigma,niqe."),
    split: str = typer.Option("test", "--split",
                              help="Dataset split: train, val, test, train,val or all (ignored for a CSV)."),
    out: Path
    | None = typer.Option(None, "--out",
                          help="Folder for evaluation.json and the PNGs (default: DATA/evaluation, or ./evaluation for "
                               "a CSV)."),
    n_boot: int = typer.Option(1000, "--n-boot", help="Bootstrap resamples for the 95 % intervals (0: none)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap."),
    window: str = typer.Option("ldctiqac", "--window", help="Display window the baselines see."),
) -> None:
    """Evaluate models and baselines against reference scores: SRCC, KRCC, PLCC, RMSE, LDCTIQAC sum, 2AFC."""
    from vliqa.cli.main import console  # lazy: keeps `vliqa --help` fast
    from vliqa.metrics.evaluate import ALL_BASELINES  # lazy: keeps `vliqa --help` fast
    from vliqa.metrics.evaluate import evaluate as run_evaluation  # lazy: keeps `vliqa --help` fast

    specs: list[str] = list(model)
    if baselines:
        names = [b.strip() for b in baselines.split(",") if b.strip()]
        specs += [ALL_BASELINES] if any(n.lower() in ("all", ALL_BASELINES) for n in names) else names
    if not specs:
        raise InvalidParameterError("nothing to evaluate",
                                    hint="give --model NAME_OR_PATH and/or --baselines all|name,name")
    if out is None:
        out = data / "evaluation" if data.is_dir() else Path("evaluation")
    result = run_evaluation(data, specs, split=split, out_dir=out, n_boot=n_boot, seed=seed, window=window,
                            progress=console.is_terminal)
    console.print(results_table(result))
    for p in result.predictors:
        if p.n_failed and p.report is not None:
            console.print(
                f"[yellow]note:[/] {p.name} could not score {p.n_failed} image(s); they are left out of its row")
    console.print(f"wrote {out / 'evaluation.json'} and {len(result.files) - 1} figure(s) in {out}")


def register(app: typer.Typer) -> None:
    """Adds `vliqa evaluate` to `app`."""
    app.command("evaluate")(evaluate)
