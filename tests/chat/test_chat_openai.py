"""The `openai` backend against a real OpenAI-compatible server on 127.0.0.1 (tests/chat/openai_stub_server.py):
plain and streamed answers, grounding, timeouts, a server that is down and comes back."""

from __future__ import annotations

import pytest
from openai_stub_server import StubServer

from vliqa.chat import Conversation
from vliqa.errors import ChatBackendError, InvalidParameterError, LLMUnreachableError


def _chat(assessment, url, **settings):
    return Conversation(assessment, backend="openai", settings={"url": url, **settings})


def test_an_answer_that_agrees_with_the_assessment_is_not_flagged(fair_slice, stub):
    chat = _chat(fair_slice, stub.url)
    reply = chat.send("how good is it?")
    assert reply.text == "From the assessment, the overall quality is 2.30 of 4 (fair). Ask me about any aspect."
    assert reply.grounded_score == pytest.approx(2.3) and reply.backend == "openai"
    assert not reply.flagged_contradiction and reply.stated == "2.30 of 4"


def test_a_contradicting_score_is_flagged_with_a_note(fair_slice, stub):
    reply = _chat(fair_slice, stub.url).send("state score 4")
    assert reply.flagged_contradiction and reply.stated == "4/4"
    assert reply.text == ("The overall image quality is 4/4.\n\nNote: the assessment scores this slice 2.30 of 4 "
                          "(fair); the answer above says 4/4.")


def test_a_contradicting_level_word_is_flagged_and_a_nearby_score_is_not(fair_slice, stub):
    chat = _chat(fair_slice, stub.url)
    assert chat.send("state level good").flagged_contradiction
    assert not chat.send("state level fair").flagged_contradiction
    assert not chat.send("state score 2.5").flagged_contradiction  # within half a level of 2.30
    assert [t.reply.flagged_contradiction for t in chat.turns] == [True, False, False]


def test_the_request_carries_the_grounded_prompt_and_the_history(fair_slice):
    with StubServer(api_key="sk-test") as server:
        chat = _chat(fair_slice, server.url, model="qwen2.5:0.5b", api_key="sk-test")
        chat.send("state score 1")
        chat.send("and the noise?")
    first, second = (r["body"] for r in server.requests)
    assert first["model"] == "qwen2.5:0.5b" and first["stream"] is False
    assert server.requests[0]["headers"]["Authorization"] == "Bearer sk-test"
    system = first["messages"][0]
    assert system["role"] == "system" and "2.30 of 4 (fair)" in system["content"]
    assert '"score":2.3' in system["content"] and "The image is noisy." in system["content"]
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "user"]
    assert second["messages"][2]["content"].startswith("The overall image quality is 1/4.\n\nNote:")


def test_a_wrong_api_key_is_a_typed_error_naming_the_key(fair_slice):
    with StubServer(api_key="sk-right") as server:
        with pytest.raises(ChatBackendError, match="HTTP 401.*API key"):
            _chat(fair_slice, server.url, api_key="sk-wrong").send("hello")


def test_streaming_gives_the_pieces_then_the_note_and_keeps_the_turn(fair_slice, stub):
    chat = _chat(fair_slice, stub.url)
    pieces = list(chat.stream("state score 0.5"))
    assert len(pieces) > 3 and pieces[-1].startswith("\n\nNote: the assessment scores this slice 2.30 of 4")
    assert "".join(pieces) == chat.last_reply.text and chat.last_reply.flagged_contradiction
    assert stub.requests[-1]["body"]["stream"] is True
    assert chat.turns[-1].reply == chat.last_reply
    assert "".join(chat.stream("how is it?")).startswith("From the assessment, the overall quality is 2.30 of 4")
    assert not chat.last_reply.flagged_contradiction and len(chat.turns) == 2


def test_a_slow_llm_times_out_with_a_typed_error_and_the_conversation_goes_on(fair_slice, stub):
    chat = _chat(fair_slice, stub.url, timeout_s=0.5)
    chat.send("state score 2")
    with pytest.raises(LLMUnreachableError, match=r"cannot reach the LLM at .*no answer within 0.5 s.*--llm embedded"):
        chat.send("sleep 3")
    with pytest.raises(LLMUnreachableError, match="no answer within"):
        list(chat.stream("sleep 3"))
    assert len(chat.turns) == 1
    assert chat.send("state score 2").text == "The overall image quality is 2/4."
    assert [t.user for t in chat.turns] == ["state score 2", "state score 2"]


def test_a_server_that_is_down_gives_a_clear_error_and_the_next_turn_works_after_it_restarts(fair_slice):
    server = StubServer().start()
    chat = _chat(fair_slice, server.url)
    chat.send("state score 2")
    server.stop()
    with pytest.raises(LLMUnreachableError) as err:
        chat.send("are you there?")
    assert str(err.value).startswith(f"cannot reach the LLM at {server.url}: connection refused")
    assert str(err.value).endswith("start it or use --llm embedded")
    with pytest.raises(LLMUnreachableError):
        list(chat.stream("are you there?"))
    assert len(chat.turns) == 1
    with StubServer(server.port):  # the same address again
        reply = chat.send("state score 2")
    assert reply.text == "The overall image quality is 2/4." and len(chat.turns) == 2


def test_a_stream_cut_off_midway_fails_the_turn_and_keeps_the_history(fair_slice, stub):
    chat = _chat(fair_slice, stub.url)
    chat.send("state score 2")
    with pytest.raises(ChatBackendError, match="cannot reach the LLM"):
        list(chat.stream("break the stream please"))
    assert len(chat.turns) == 1 and "".join(chat.stream("state score 2")) == "The overall image quality is 2/4."


def test_a_server_error_and_a_wrong_path_are_typed_errors(fair_slice, stub):
    with pytest.raises(ChatBackendError, match="HTTP 503: the stub was asked to fail"):
        _chat(fair_slice, stub.url).send("fail with 503")
    with pytest.raises(ChatBackendError, match="HTTP 404.*ends in /v1"):
        _chat(fair_slice, stub.url.removesuffix("/v1") + "/api").send("hello")


def test_settings_come_from_the_environment(fair_slice, stub, monkeypatch):
    monkeypatch.setenv("VLIQA_LLM_URL", stub.url.removesuffix("/v1"))  # the /v1 is added
    monkeypatch.setenv("VLIQA_LLM_MODEL", "llama3.2")
    monkeypatch.setenv("VLIQA_LLM_TIMEOUT", "7")
    chat = Conversation(fair_slice, backend="openai")
    chat.send("state score 2")
    assert stub.requests[-1]["body"]["model"] == "llama3.2" and chat.backend.timeout_s == 7.0
    monkeypatch.delenv("VLIQA_LLM_URL")
    with pytest.raises(InvalidParameterError, match="needs the URL.*VLIQA_LLM_URL"):
        Conversation(fair_slice, backend="openai")
