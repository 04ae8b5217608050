"""The OpenAI chat format, both ways: a request's messages in, an Answer out as a chat
completion (or as the chunks of a stream). Pure functions; app.py serves them.

Our checked citations, the refusal and which stage refused ride in the extra field
``x_assistant``; a client that does not know it reads an ordinary answer.
"""

from __future__ import annotations

import time
import uuid

from assistant.result import Answer

EXTRA = "x_assistant"


class BadRequest(ValueError):
    """A request the API answers with 400 and this message."""


def read(body: object) -> dict:
    """From a chat completions request: the knowledge base, the question, the earlier turns and the temperature."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    kb = body.get("model")
    if not isinstance(kb, str) or not kb:
        raise BadRequest("'model' must name a knowledge base (GET /v1/models lists them)")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty list of {role, content}")
    turns = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("system", "developer", "user", "assistant", "tool"):
            raise BadRequest(f"messages[{i}] must be an object with a role of system, user or assistant")
        if m["role"] in ("user", "assistant"):  # our own system prompt is the one the checks are made for
            turns.append({"role": m["role"], "content": _text(m.get("content"), i)})
    if not turns or turns[-1]["role"] != "user" or not turns[-1]["content"].strip():
        raise BadRequest("the last message must be the user's question, not empty")
    temperature = body.get("temperature")
    if temperature is not None and (isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2):
        raise BadRequest("'temperature' must be a number from 0 to 2")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise BadRequest("'stream' must be true or false")
    return {"kb": kb, "question": turns[-1]["content"], "history": turns[:-1], "temperature": temperature, "stream": stream}


def _text(content: object, i: int) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # the parts form: [{"type": "text", "text": ...}]
        if all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str) for p in content):
            return "".join(p["text"] for p in content)
        raise BadRequest(f"messages[{i}]: only text parts are understood")
    raise BadRequest(f"messages[{i}].content must be a string or a list of text parts")


def extra(answer: Answer, kb: str) -> dict:
    """What the assistant adds to a completion: the checked citations and how it refused, if it did."""
    return {
        "kb": kb,
        "refused": answer.refused,
        "refused_by": answer.refused_by or None,
        "citations": answer.citations,
        "search_query": answer.search_query,
        "notices": answer.notices,
    }


def _usage(answer: Answer) -> dict:
    prompt, completion = answer.timings.get("prompt_tokens", 0), answer.timings.get("completion_tokens", 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def new_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def completion(answer: Answer, kb: str, cid: str) -> dict:
    return {
        "id": cid, "object": "chat.completion", "created": int(time.time()), "model": kb,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text}, "finish_reason": "stop"}],
        "usage": _usage(answer),
        EXTRA: extra(answer, kb),
    }


def chunk(cid: str, kb: str, delta: dict, *, finish: str | None = None, **more) -> dict:
    return {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": kb,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **more}


def draft(cid: str, kb: str, text: str) -> dict:
    """The model's words as it writes them, before they are checked: beside the content, never in it,
    so a client that shows only the content shows nothing the checker may remove."""
    return chunk(cid, kb, {}, **{EXTRA: {"draft": text}})


def closing(answer: Answer, kb: str, cid: str) -> list[dict]:
    """The checked answer as the stream's content, then its end with citations and usage."""
    return [
        chunk(cid, kb, {"content": answer.text}),
        chunk(cid, kb, {}, finish="stop", usage=_usage(answer), **{EXTRA: extra(answer, kb)}),
    ]
