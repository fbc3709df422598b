"""Conversations survive a JSON round trip (what the HTTP service stores) and go on where they stopped; prompts are
files a site can replace; the llama_cpp backend says how to install it."""

from __future__ import annotations

import json

import pytest

from vliqa.chat import Conversation, backend_names, system_prompt
from vliqa.errors import DependencyUnavailableError, InvalidParameterError, PromptTemplateError, UnknownNameError


def test_a_conversation_round_trips_through_json_and_goes_on(fair_slice, stub):
    chat = Conversation(fair_slice, backend="openai", settings={"url": stub.url, "api_key": "sk-secret",
                                                                "timeout_s": 9})
    chat.send("state score 4")
    chat.send("how is it?")
    text = json.dumps(chat.to_dict())
    assert "sk-secret" not in text
    again = Conversation.from_dict(json.loads(text))
    assert again.id == chat.id and again.turns == chat.turns and again.assessment == chat.assessment
    assert again.backend_name == "openai" and again.backend.url == stub.url and again.backend.timeout_s == 9
    assert again.history == chat.history and again.last_reply.text.startswith("From the assessment")
    again.send("state score 2")
    assert len(again.turns) == 3 and [m["role"] for m in stub.requests[-1]["body"]["messages"]].count("user") == 3


def test_a_restored_conversation_can_change_backend(fair_slice):
    data = Conversation(fair_slice).to_dict()
    assert data["backend"] == "embedded" and data["kind"] == "vliqa_conversation"
    chat = Conversation.from_dict(data, backend="embedded")
    assert chat.send("give me a score").text.startswith("The assessment scores this slice 2.30 of 4 (fair)")
    with pytest.raises(InvalidParameterError, match="not a vliqa conversation"):
        Conversation.from_dict({"kind": "something else"})


def test_the_embedded_series_conversation_round_trips(series_chat):
    chat = series_chat()
    chat.send("give me a score")
    again = Conversation.from_dict(json.loads(json.dumps(chat.to_dict())))
    assert again.assessment.to_dict() == chat.assessment.to_dict()
    assert again.send("give me a score").text == chat.turns[0].reply.text


def test_an_empty_message_or_an_unknown_backend_or_setting_is_a_clear_error(fair_slice):
    with pytest.raises(InvalidParameterError, match="empty"):
        Conversation(fair_slice).send("   ")
    with pytest.raises(UnknownNameError, match="registered: embedded, llama_cpp, openai"):
        Conversation(fair_slice, backend="gpt5")
    with pytest.raises(InvalidParameterError, match="embedded chat backend has no setting url"):
        Conversation(fair_slice, settings={"url": "http://x"})
    assert backend_names() == ["embedded", "llama_cpp", "openai"]


def test_llama_cpp_without_its_extra_says_how_to_install_it(fair_slice):
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        with pytest.raises(DependencyUnavailableError, match=r"pip install 'vliqa\[llm\]'.*17 min"):
            Conversation(fair_slice, backend="llama_cpp")
    else:
        pytest.skip("llama-cpp-python is installed here")


def test_a_prompt_folder_replaces_the_shipped_prompts(fair_slice, tmp_path):
    (tmp_path / "system.md.j2").write_text("Site prompt for a {{ kind }} at {{ score_text }}.\n{{ grounding }}")
    prompt = system_prompt(fair_slice, prompt_dir=tmp_path)
    assert prompt.startswith("Site prompt for a slice at 2.30 of 4 (fair).\n## Assessment of scan/slice_007.dcm")
    (tmp_path / "grounding.md.j2").write_text("Facts: {{ no_such_field }}")
    with pytest.raises(PromptTemplateError, match="no_such_field"):
        system_prompt(fair_slice, prompt_dir=tmp_path)
    (tmp_path / "grounding.md.j2").write_text("{% if %}")
    with pytest.raises(PromptTemplateError, match="line 1"):
        system_prompt(fair_slice, prompt_dir=tmp_path)
    with pytest.raises(PromptTemplateError, match="does not exist"):
        system_prompt(fair_slice, prompt_dir=tmp_path / "missing")
