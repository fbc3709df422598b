"""`vliqa serve`: run the HTTP service and web app (docs/serve.md); the command parses options and calls
`vliqa.serve.run`."""

from __future__ import annotations

from pathlib import Path

import typer


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; beyond this machine it needs "
                                                          "VLIQA_API_TOKEN."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    db: str = typer.Option("sqlite:///vliqa-serve.db", "--db",
                           help="Database URL: sqlite:///path (default) or postgresql://user@host/db."),
    model: str = typer.Option("default", "--model", "-m", help="Quality model: shipped name or checkpoint folder."),
    vlm: str = typer.Option("vlm", "--vlm", help="Quality VLM for describe / compare / ask: shipped name or folder."),
    no_vlm: bool = typer.Option(False, "--no-vlm", help="Start without the quality VLM (describe, compare, ask: 503)."),
    workers: int = typer.Option(1, "--workers", help="Assessments run at once (threads sharing one model)."),
    queue: int = typer.Option(8, "--queue", help="Requests that may wait for a worker before 429."),
    max_upload_mb: float = typer.Option(256.0, "--max-upload-mb", help="Largest upload (MB)."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Where uploads are kept (default: beside the "
                                                                  "SQLite file)."),
    measures: bool = typer.Option(True, "--measures/--no-measures", help="Add the physics measures by default."),
) -> None:
    """Serve the HTTP API and the web app (http://HOST:PORT/)."""
    from vliqa.serve import Limits, ServeSettings, run  # lazy: keeps `vliqa --help` fast

    settings = ServeSettings(host=host, port=port, db_url=db, model=model, vlm=None if no_vlm else vlm,
                             workers=workers, queue_size=queue, data_dir=data_dir, measures=measures,
                             limits=Limits(max_upload_mb=max_upload_mb))
    run(settings)


def register(app: typer.Typer) -> None:
    """Adds `vliqa serve` to `app`."""
    app.command("serve")(serve)
