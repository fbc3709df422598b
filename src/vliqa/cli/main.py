"""The `vliqa` command line: thin Typer wrappers over the library.

Exit codes: 0 ok, 1 user error (a VliqaError: one clean line, no traceback),
2 internal error (a bug: one line plus a hint to rerun with --debug).
"""

from __future__ import annotations

import json
import sys

import typer
from rich.console import Console

try:  # typer vendors click from 0.16 on (typer._click); before, it depends on the click package
    from click.exceptions import Abort, ClickException
except ModuleNotFoundError:
    from typer import Abort
    from typer._click.exceptions import ClickException

from vliqa import __version__
from vliqa.errors import VliqaError

app = typer.Typer(
    name="vliqa",
    help="Vision-language image quality assessment for CT.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

_STATE = {"debug": False}


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"vliqa {__version__}")
        raise typer.Exit(0)


@app.callback()
def main(
    version: bool
    | None = typer.Option(None, "--version", callback=_version_callback, is_eager=True,
                          help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    """Vision-language image quality assessment for CT."""
    _STATE["debug"] = debug


def _register_subcommands() -> None:
    from vliqa.cli import assess as assess_cli  # lazy: keeps `vliqa --help` fast
    from vliqa.cli import batch as batch_cli  # lazy: keeps `vliqa --help` fast
    from vliqa.cli import chat as chat_cli  # lazy: keeps `vliqa --help` fast
    from vliqa.cli import data as data_cli  # lazy: keeps `vliqa --help` fast
    from vliqa.cli import evaluate as evaluate_cli  # lazy: keeps `vliqa --help` fast
    from vliqa.cli import images as images_cli  # lazy: keeps `vliqa --help` fast
    from vliqa.cli import language as language_cli  # lazy: keeps `vliqa --help` fast
    from vliqa.cli import report as report_cli  # lazy: keeps `vliqa --help` fast
    from vliqa.cli import serve as serve_cli  # lazy: keeps `vliqa --help` fast
    from vliqa.cli import train as train_cli  # lazy: keeps `vliqa --help` fast

    images_cli.register(app)
    app.add_typer(data_cli.app, name="data", help="Build and label CT-IQA datasets.")
    app.add_typer(train_cli.app, name="train", help="Train quality models on a dataset.")
    evaluate_cli.register(app)
    assess_cli.register(app)
    report_cli.register(app)
    language_cli.register(app)
    chat_cli.register(app)
    serve_cli.register(app)
    batch_cli.register(app)


_register_subcommands()


def run() -> None:
    """Console-script entry point: runs the CLI on sys.argv and exits with its code."""
    sys.exit(invoke(None))


def invoke(argv: list[str] | None = None) -> int:
    """Runs the CLI on `argv` and gives its exit code (0 ok, 1 user error, 2 internal error)."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        app(args=argv, standalone_mode=False)
    except VliqaError as exc:
        if debug:
            err_console.print_exception()
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        return 1
    except typer.Exit as exc:
        return exc.exit_code
    except SystemExit as exc:
        return int(exc.code or 0)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
        if isinstance(exc, ClickException):
            exc.show()
            return 1
        if isinstance(exc, Abort):
            return 1
        if debug:
            err_console.print_exception()
        err_console.print(
            f"[bold red]internal error:[/] {type(exc).__name__}: {exc} (rerun with --debug for the traceback and "
            "report it)",
            highlight=False,
            soft_wrap=True,
        )
        return 2
    return 0


def print_json(obj: object) -> None:
    """Prints `obj` as JSON on stdout (no rich markup, so machines can read it)."""
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


if __name__ == "__main__":
    run()
