"""Chat about one CT image's quality (IQAGPT's chat step), grounded on its Assessment.

    from vliqa.chat import Conversation
    chat = Conversation.open("scan/")                   # assessed once; the offline `embedded` backend
    chat.send("give me a score").text                   # "The assessment scores this series 2.26 of 4 (fair): ..."
    Conversation.open("scan/", backend="openai", settings={"url": "http://127.0.0.1:11434/v1", "model": "qwen2.5"})

Backends are a registry (`register_backend`): `embedded`, `openai` (any OpenAI-compatible server) and
`llama_cpp` (a local GGUF, the `llm` extra). Whatever an LLM says about overall quality is checked against the
Assessment (`check_answer`); a contradiction is flagged in the reply. docs/chat.md has the details.
"""

from vliqa.chat.backends import (
    DEFAULT_BACKEND,
    ChatBackend,
    ChatContext,
    backend_names,
    backend_settings,
    create_backend,
    register_backend,
)
from vliqa.chat.conversation import CONVERSATION_VERSION, ChatReply, ChatTurn, Conversation
from vliqa.chat.grounding import GroundingCheck, check_answer, overall_of, stated_overall
from vliqa.chat.intents import Intent, classify
from vliqa.chat.prompts import PROMPTS_DIR, prompt_fields, system_prompt

__all__ = [
    "CONVERSATION_VERSION", "DEFAULT_BACKEND", "PROMPTS_DIR", "ChatBackend", "ChatContext", "ChatReply", "ChatTurn",
    "Conversation", "GroundingCheck", "Intent", "backend_names", "backend_settings", "check_answer", "classify",
    "create_backend", "overall_of", "prompt_fields", "register_backend", "stated_overall", "system_prompt",
]
