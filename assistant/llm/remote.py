"""Answers from an OpenAI-compatible model server, with the in-process generator's behaviour.

The server is llama-cpp-python's own (``python -m llama_cpp.server``) or llama.cpp's
``llama-server``; it runs the GGUF. This side keeps what decides the answer: the
prompt is rendered here with the chat template stored in the *same* GGUF and counted
with its tokenizer (loaded with ``vocab_only``: about 0.4 s and 90 MB, no weights),
both through assistant.llm.chat as the in-process generator does, marker text inside
the messages defused (the server tokenizes the whole text with special tokens on), and
the rendered text goes to ``/v1/completions`` (streamed as server-sent events)
with the sampling of ``assistant.llm.local``: greedy at temperature 0, no repeat
penalty, the same seed, stopped at the template's end-of-turn markers. So at
temperature 0 the server writes the tokens the in-process model would have written.
At start it checks that the server tokenizes like the local GGUF (a server running
another model would be refused), through llama-cpp-python's ``/extras/tokenize`` or
llama-server's ``/tokenize``.

HTTP through httpx only (no OpenAI client). Several threads may stream at once: the server
queues the requests (llama_cpp.server must run with ``--interrupt_requests false``,
or a new request cuts the running one off), and each thread sees its own
``last_stats``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Iterator

from assistant.llm import llama
from assistant.llm.chat import ChatTemplate
from assistant.llm.models import check_gguf
from assistant.llm.stream import SAMPLING, GenStats, check_room, split_stop
from index.errors import ModelError

log = logging.getLogger("assistant.llm.remote")

CONNECT_TIMEOUT = 10.0  # s
# A request waits its turn on the server while others are answered (about 20 s each on
# 2 cores); llama_cpp.server pings every 15 s meanwhile, llama-server sends nothing.
READ_TIMEOUT = 900.0  # s
_PROBE = [{"role": "system", "content": "probe"}, {"role": "user", "content": "你好，tokenizer? 12345"}]


def api_base(url: str) -> str:
    """The OpenAI API root: ``http://HOST:PORT/v1`` whether or not the user wrote ``/v1``."""
    base = url.rstrip("/")
    return base if base.endswith("/v1") else base + "/v1"


def _chat_template(model_path: Path) -> ChatTemplate:
    """The GGUF's chat template and tokenizer, without its weights."""
    llama.install_log_callback()
    try:
        llm = llama.load(model_path, vocab_only=True, n_ctx=64, verbose=False)
    except ValueError:
        raise ModelError(f"cannot read the vocabulary of {model_path} ({llama.llama_said()}): check --model") from None
    return ChatTemplate(llm, model_path)


class RemoteGenerator:
    """The ``Generator`` protocol of assistant.llm.stream over a model server at ``url``."""

    def __init__(self, url: str, model_path: Path, *, n_ctx: int = 4096, seed: int = 0):
        import httpx

        check_gguf(model_path)
        self.url = api_base(url)
        self.model_path = Path(model_path)
        self.n_ctx = n_ctx
        self.seed = seed
        self.chat = _chat_template(self.model_path)
        # The server stops at end-of-generation tokens itself; the markers as text too, in case.
        self._stops = self.chat.end_of_turn_texts()
        self._local = threading.local()  # each thread's last_stats: questions may run side by side
        self._http = httpx.Client(
            timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT, pool=None),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=8),
            trust_env=False,  # never through a proxy named in the environment
        )
        self._check_server()

    # -------------------------------------------------------------- protocol

    @property
    def last_stats(self) -> GenStats:
        return getattr(self._local, "stats", None) or GenStats()

    def render(self, messages: list[dict]) -> str:
        """The prompt as the server gets it: the template's markers, the messages defused
        (the server tokenizes the whole text with special tokens on)."""
        return self.chat.render_defused(messages)

    def count_tokens(self, messages: list[dict]) -> int:
        return len(self.chat.defused_tokens(messages))

    def stream(
        self,
        messages: list[dict],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: list[str] | None = None,
        aside: bool = False,
        watch: str = "",
    ) -> Iterator[str]:
        """As LlamaGenerator.stream: pieces of text; a prompt too long raises ValueError here.
        ``aside`` (a rewrite or translation) changes nothing here: the server keeps one
        context and reuses its common prefix with each request, whatever it was."""
        n_prompt = self.count_tokens(messages)
        check_room(n_prompt, max_tokens, self.n_ctx)
        stops = [s for s in (stop or []) if s]
        body = {
            "prompt": self.render(messages),
            "max_tokens": max_tokens,
            "stream": True,
            "stop": list(dict.fromkeys(self._stops + stops)),
            "seed": self.seed,
            # assistant.llm.local's sampling: greedy at 0, else these; never a repeat penalty
            "temperature": max(temperature, 0.0),
            **(SAMPLING if temperature > 0 else {}),
            "repeat_penalty": 1.0,
            "frequency_penalty": 0.0,
            "presence_penalty": 0.0,
            "stream_options": {"include_usage": True},  # llama-server: token counts in the last event
            "cache_prompt": True,  # llama-server: keep the common prefix in the KV cache (llama_cpp.server always does)
        }
        return self._generate(body, n_prompt, body["stop"])  # also cut here, should a server ignore "stop"

    # ------------------------------------------------------------ internals

    def _fail(self, err: Exception, doing: str) -> ModelError:
        import httpx

        if isinstance(err, httpx.ConnectError):
            return ModelError(f"cannot reach the model server at {self.url} while {doing}: is it running?")
        if isinstance(err, httpx.TimeoutException):
            return ModelError(f"the model server at {self.url} did not answer in time while {doing}")
        if isinstance(err, httpx.TransportError):
            return ModelError(f"the model server at {self.url} broke off while {doing}: {type(err).__name__}")
        return ModelError(f"the model server at {self.url} failed while {doing}: {err}")

    def _check_server(self) -> None:
        """Refuse a server whose tokenizer differs from the local GGUF's."""
        import httpx

        try:
            r = self._http.get(f"{self.url}/models")
            r.raise_for_status()
            listed = [m.get("id", "") for m in r.json().get("data", [])]
        except (httpx.HTTPError, ValueError) as err:
            raise self._fail(err, "listing its models") from None
        probe = self.render(_PROBE)
        mine = self.chat.tokenize(probe)
        root = self.url[: -len("/v1")]
        theirs = None
        for path, body in (("/extras/tokenize", {"input": probe}),  # llama_cpp.server
                           ("/tokenize", {"content": probe, "add_special": False, "parse_special": True})):  # llama-server
            try:
                r = self._http.post(root + path, json=body)
            except httpx.HTTPError as err:
                raise self._fail(err, "checking its tokenizer") from None
            if r.status_code == 200:
                tokens = r.json().get("tokens", [])
                theirs = [t if isinstance(t, int) else t.get("id") for t in tokens]
                break
        if theirs is None:
            log.warning("model server %s has no tokenize endpoint: cannot check it runs %s", self.url, self.model_path.name)
        else:
            if theirs[:1] == [self.chat.bos] and mine[:1] != [self.chat.bos]:
                theirs = theirs[1:]  # llama_cpp.server adds BOS where the vocabulary asks for it
            if theirs != mine:
                raise ModelError(
                    f"the model server at {self.url} runs another model than {self.model_path.name} "
                    f"({', '.join(listed) or 'unnamed'}; their tokenizers differ): give --model the GGUF the server runs"
                )

    def _generate(self, body: dict, n_prompt: int, stops: list[str]) -> Iterator[str]:
        import httpx

        start = time.perf_counter()
        stats = GenStats(prompt_tokens=n_prompt)
        first_at = None
        shown = ""  # what was yielded
        pending = ""  # held back while it could be the start of a stop string
        hit = False
        usage: dict = {}
        try:
            with self._http.stream("POST", f"{self.url}/completions", json=body) as r:
                if r.status_code != 200:
                    r.read()
                    raise ModelError(f"the model server at {self.url} refused the request ({r.status_code}): {_detail(r)}")
                for event in _events(r.iter_lines()):
                    if first_at is None:
                        first_at = time.perf_counter()
                    usage.update(event.get("usage") or {})
                    usage.update({f"timings.{k}": v for k, v in (event.get("timings") or {}).items()})
                    if "error" in event:
                        raise ModelError(f"the model server at {self.url} failed: {_message(event['error'])}")
                    piece = "".join(c.get("text") or "" for c in event.get("choices") or [])
                    if not piece:
                        continue
                    pending += piece
                    out, pending, hit = split_stop(pending, stops)
                    if out:
                        shown += out
                        yield out
                    if hit:  # leaving the stream closes it: the server stops generating
                        break
                if not hit and pending:
                    shown += pending
                    yield pending
        except httpx.HTTPError as err:
            raise self._fail(err, "answering") from None
        finally:
            end = time.perf_counter()
            stats.completion_tokens = int(
                usage.get("completion_tokens") or usage.get("timings.predicted_n")
                or (len(self.chat.tokenize(shown)) if shown else 0)  # llama_cpp.server streams no counts
            )
            stats.cached_tokens = int(usage.get("timings.cache_n") or 0)
            self._local.stats = stats.timed(start, first_at, end)

    def close(self) -> None:
        self._http.close()


def _events(lines: Iterator[str]) -> Iterator[dict]:
    """The JSON payloads of a server-sent event stream, up to ``[DONE]``; comments (pings) skipped."""
    data: list[str] = []
    for line in lines:
        if line.startswith("data:"):
            data.append(line[5:].strip())
            continue
        if line.strip() or not data:
            continue  # ": ping", "event: ...", or a blank line with nothing pending
        payload, data = "\n".join(data), []
        if payload == "[DONE]":
            return
        yield json.loads(payload)
    if data and "\n".join(data) != "[DONE]":
        yield json.loads("\n".join(data))


def _message(error) -> str:
    return error.get("message", str(error)) if isinstance(error, dict) else str(error)


def _detail(response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip() or "no details"
    detail = body.get("error") or body.get("detail") or body
    return _message(detail)[:300] if not isinstance(detail, list) else str(detail)[:300]
