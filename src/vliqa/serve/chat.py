"""Chat about a stored result (`POST /v1/chat`): a `vliqa.chat.Conversation` grounded on the result's assessment,
answered by the offline `embedded` backend, its turns kept in the database.

The image is handed to the conversation from the server's store: a conversation never opens a path of its own (the
assessment's path is the client's label, not a file). A client cannot pick a backend or a URL.
"""

from __future__ import annotations

from typing import Any

from vliqa.assessment import assessment_from_dict
from vliqa.chat import ChatTurn, Conversation
from vliqa.serve.errors import NotFoundError
from vliqa.serve.service import Service

#: The backend the server's conversations use: offline, grounded on the assessment and the quality VLM.
SERVER_BACKEND = "embedded"


def _assessor(service: Service) -> Any:
    try:
        return service.assessor(vlm=True, measures=False)
    except Exception:  # noqa: BLE001 - no VLM: the embedded backend answers from the assessment alone
        return service.assessor(vlm=False, measures=False)


def send(service: Service, text: str, result_id: str | None, conversation_id: str | None) -> dict[str, Any]:
    """Gives the reply to `text` in a conversation (a new one about `result_id`, or `conversation_id` went on)."""
    state: dict[str, Any] = {}
    if conversation_id:
        result_id, state = service.store.conversation(conversation_id)
    if result_id is None:
        raise NotFoundError("a new conversation needs a result_id", hint="send the id of a done assess result")
    record = service.done_record(result_id)
    if record["operation"] == "compare":
        raise NotFoundError("a conversation is about one image; this result is a comparison",
                            hint="chat about an assess or describe result")
    conversation = Conversation(
        assessment_from_dict(record["result"]), backend=SERVER_BACKEND, assessor=_assessor(service),
        image=service.image(result_id, "image"), turns=tuple(ChatTurn.from_dict(t) for t in state.get("turns", ())),
        conversation_id=state.get("id"), created=state.get("created"))
    reply = conversation.send(text)
    service.store.save_conversation(conversation.id, result_id, conversation.to_dict())
    return {"conversation_id": conversation.id, "result_id": result_id, "reply": reply.to_dict(),
            "turns": len(conversation.turns)}


def history(service: Service, conversation_id: str) -> dict[str, Any]:
    """Gives a stored conversation's turns."""
    result_id, state = service.store.conversation(conversation_id)
    return {"conversation_id": conversation_id, "result_id": result_id, "turns": state.get("turns", []),
            "backend": state.get("backend")}
