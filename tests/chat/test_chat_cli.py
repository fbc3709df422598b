"""`vliqa chat PATH --message ...`: the turns run, the replies print, errors exit 1 with their message."""

from __future__ import annotations

import json

from openai_stub_server import StubServer

from vliqa.cli.main import invoke


def _slice(series) -> str:
    return str(sorted(series.iterdir())[5])


def test_chat_answers_each_message_and_saves_the_conversation(abdomen_series, tmp_path, capsys):
    saved = tmp_path / "chat.json"
    code = invoke(["chat", _slice(abdomen_series), "--no-measures", "--vlm", "none", "--message", "give me a score",
                   "--message", "write the report", "--save", str(saved)])
    out = capsys.readouterr().out
    assert code == 0
    first, second = out.split("\n\n", 1)
    assert first.startswith("The assessment scores this slice ") and "# CT image quality report" in second
    data = json.loads(saved.read_text(encoding="utf-8"))
    assert [t["user"] for t in data["turns"]] == ["give me a score", "write the report"]
    assert f"{data['assessment']['score']:.2f} of 4" in first


def test_chat_with_an_openai_server_flags_a_contradiction(abdomen_series, capsys):
    with StubServer() as server:
        code = invoke(["chat", _slice(abdomen_series), "--no-measures", "--vlm", "none", "--llm", "openai",
                       "--llm-url", server.url, "--llm-model", "stub", "--message", "state score 4"])
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("The overall image quality is 4/4.\n\nNote: the assessment scores this slice")
    assert server.requests[0]["body"]["stream"] is True and server.requests[0]["body"]["model"] == "stub"


def test_chat_with_an_llm_that_is_down_exits_1_with_the_way_out(abdomen_series, tmp_path, capsys):
    with StubServer() as server:
        url = server.url
    saved = tmp_path / "chat.json"
    code = invoke(["chat", _slice(abdomen_series), "--no-measures", "--vlm", "none", "--llm", "openai",
                   "--llm-url", url, "--message", "give me a score", "--save", str(saved)])
    err = capsys.readouterr().err
    assert code == 1 and f"cannot reach the LLM at {url}" in err and "--llm embedded" in err
    assert json.loads(saved.read_text(encoding="utf-8"))["turns"] == []


def test_chat_with_llama_cpp_settings_for_another_backend_is_a_user_error(abdomen_series, tmp_path, capsys):
    code = invoke(["chat", _slice(abdomen_series), "--llm-gguf", str(tmp_path / "m.gguf"), "--message", "hi"])
    assert code == 1 and "--llm-gguf is for --llm llama_cpp" in capsys.readouterr().err
