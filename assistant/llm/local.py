"""Text generation with a GGUF chat model through llama-cpp-python.

The only module that imports llama_cpp, and only inside functions, so that
`--help` and the tests that need no model stay fast.

The prompt is rendered once with the chat template stored in the GGUF and
tokenized once; those exact tokens are what count_tokens() counts and what the
model evaluates. Feeding token lists also lets llama.cpp keep the KV cache of
the longest common prefix with the previous call (system prompt, earlier
turns), so only the new part of a prompt is processed.
"""

from __future__ import annotations

import codecs
import collections
import ctypes
import os
import re
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol

from assistant.llm import cpu
from assistant.llm.models import check_gguf
from index.errors import ModelError

# End-of-turn markers of common chat templates. Qwen's GGUF already marks
# <|im_end|> as end-of-generation, but we don't rely on every GGUF doing so.
_END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "</s>")


@dataclass
class GenStats:
    prompt_tokens: int = 0  # the whole prompt, cached prefix included
    completion_tokens: int = 0  # tokens generated, end-of-turn excluded
    ttft_ms: float = 0.0  # from the start of generation to the first generated token
    total_ms: float = 0.0
    tokens_per_s: float = 0.0  # generation tok/s after the first token
    cached_tokens: int = 0  # prompt tokens reused from the previous call's KV cache


class Generator(Protocol):
    n_ctx: int
    last_stats: GenStats

    def count_tokens(self, messages: list[dict]) -> int: ...

    def stream(
        self, messages: list[dict], *, max_tokens: int, temperature: float = 0.0, stop: list[str] | None = None,
        aside: bool = False,
    ) -> Iterator[str]: ...


# ------------------------------------------------------------ llama.cpp logging

_log_lines: collections.deque[str] = collections.deque(maxlen=20)
_log_verbose = False
_log_callback = None  # kept referenced: ctypes would free it while C still calls it


def _install_log_callback() -> None:
    """Route llama.cpp's C logging through us: printed when verbose, otherwise
    kept (the last lines) so a failed load can say why in its one-line error.
    llama-cpp-python's own callback prints errors even when verbose=False."""
    global _log_callback
    if _log_callback is not None:
        return
    import llama_cpp

    @llama_cpp.llama_log_callback
    def callback(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        line = text.decode("utf-8", errors="replace")
        if _log_verbose:
            print(line, end="", file=sys.stderr, flush=True)
        elif line.strip():
            _log_lines.append(line.strip())

    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
    _log_callback = callback


def _llama_said() -> str:
    """The most telling recent llama.cpp log line, for an error message: an
    "error ..." line says why, the "failed ..." that follows it only that it failed."""
    for word in ("error", "failed"):
        for line in reversed(_log_lines):
            if word in line.lower():
                return line.split(": ", 1)[-1]  # drop the C function name
    return _log_lines[-1] if _log_lines else "no details from llama.cpp"


def check_llama_build() -> None:
    """ModelError, before any model loads, if llama.cpp was built for instructions this CPU lacks."""
    import llama_cpp

    cpu.check(llama_cpp.llama_print_system_info().decode())


# -------------------------------------------------------------------- generator


class LlamaGenerator:
    def __init__(
        self,
        model_path: Path,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        seed: int = 0,
        n_batch: int = 512,
        verbose: bool = False,
    ) -> None:
        global _log_verbose
        check_gguf(model_path)
        _install_log_callback()
        _log_verbose = verbose
        _log_lines.clear()

        from llama_cpp import Llama

        check_llama_build()
        self.model_path = Path(model_path)
        self.n_ctx = n_ctx
        self.n_threads = n_threads or os.cpu_count() or 1
        self.seed = seed
        self.last_stats = GenStats()
        # One llama context: generations must not interleave. Threads (a web UI)
        # wait their turn; the same thread opening a second stream() while its
        # first is unfinished would wait forever, so that raises instead.
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._kept: _KeptState | None = None  # the conversation's context, kept while an aside runs
        try:
            self._llm = Llama(
                model_path=str(model_path),
                n_ctx=n_ctx,
                n_batch=n_batch,
                n_threads=self.n_threads,
                n_threads_batch=self.n_threads,
                seed=seed,
                verbose=verbose,
            )
        except ValueError as e:
            if "llama_context" in str(e):
                raise ModelError(
                    f"not enough memory for a {n_ctx}-token context ({_llama_said()}): use a smaller --n-ctx"
                ) from None
            raise ModelError(
                f"cannot load model {model_path} ({_llama_said()}): "
                "the file is truncated or corrupt; re-create or re-download it, or check --model"
            ) from None
        self._special_texts: list[str] | None = None  # the vocabulary's special-token strings, when needed
        self._formatter = self._chat_formatter()
        self._stop_ids = self._end_of_turn_ids()

    def _chat_formatter(self):
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = self._llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ModelError(f"{self.model_path} is not a chat model (no chat template); use an instruct GGUF")
        self._template = template
        model = self._llm._model  # token texts are only reachable through the internal model
        eos, bos = self._llm.token_eos(), self._llm.token_bos()
        return Jinja2ChatFormatter(
            template=template,
            eos_token=model.token_get_text(eos) if eos != -1 else "",
            bos_token=model.token_get_text(bos) if bos != -1 else "",
            add_generation_prompt=True,
        )

    def _end_of_turn_ids(self) -> set[int]:
        """EOS plus the template's end-of-turn markers that are single special tokens."""
        ids = {self._llm.token_eos()} - {-1}
        for marker in _END_OF_TURN:
            if marker in self._template:
                toks = self._llm.tokenize(marker.encode(), add_bos=False, special=True)
                if len(toks) == 1:
                    ids.add(toks[0])
        return ids

    # -------------------------------------------------------------- prompt

    def render(self, messages: list[dict]) -> str:
        return self._formatter(messages=messages).prompt

    def _tokens(self, messages: list[dict]) -> list[int]:
        import llama_cpp

        # Only the chat template's own markers may become special tokens. The contents
        # (passages, the question, earlier answers) can hold the text "<|im_start|>system":
        # tokenized with special=True it would become the real marker and open a turn the
        # document wrote. So the template is rendered with a stand-in for each content,
        # the scaffolding around the stand-ins is tokenized with special=True (markers ->
        # special tokens) and each content with special=False (marker text -> plain text).
        # Every boundary in the default (ChatML) template is a newline or a special token,
        # so for contents without marker text the tokens are exactly those of the whole
        # rendering. A template that drops, repeats or reorders contents gets the whole
        # rendering instead, with the vocabulary's special-token strings broken up inside
        # the contents by a word joiner.
        tokens = self._scaffolded_tokens(messages)
        if tokens is None:
            rendered = self.render([{**m, "content": self._defuse(str(m["content"]))} for m in messages])
            tokens = self._llm.tokenize(rendered.encode("utf-8"), add_bos=False, special=True)
        bos = self._llm.token_bos()
        vocab = llama_cpp.llama_model_get_vocab(self._llm.model)
        # add BOS the way llama.cpp would, unless the template already wrote it
        if llama_cpp.llama_vocab_get_add_bos(vocab) and bos != -1 and tokens[:1] != [bos]:
            tokens.insert(0, bos)
        return tokens

    def _scaffolded_tokens(self, messages: list[dict]) -> list[int] | None:
        holders = [f"\ue000{i}\ue001" for i in range(len(messages))]  # private-use: survive any template
        rendered = self.render([{**m, "content": h} for m, h in zip(messages, holders)])
        pieces = _STAND_IN.split(rendered)
        if pieces[1::2] != holders:
            return None
        tokens: list[int] = []
        for i, piece in enumerate(pieces):
            if i % 2:
                text, special = str(messages[i // 2]["content"]), False
            else:
                text, special = piece, True
            if text:
                tokens += self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=special)
        return tokens

    def _defuse(self, text: str) -> str:
        if self._special_texts is None:
            import llama_cpp

            vocab = llama_cpp.llama_model_get_vocab(self._llm.model)
            wanted = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED
            texts = {
                self._llm._model.token_get_text(t)
                for t in range(self._llm.n_vocab())
                if llama_cpp.llama_vocab_get_attr(vocab, t) & wanted
            }
            self._special_texts = sorted((t for t in texts if len(t) > 1), key=len, reverse=True)
        for marker in self._special_texts:
            if marker in text:
                text = text.replace(marker, marker[0] + "\u2060" + marker[1:])
        return text

    def count_tokens(self, messages: list[dict]) -> int:
        return len(self._tokens(messages))  # the vocab only: no lock, safe while a stream is open

    # ---------------------------------------------------------- generation

    def stream(
        self,
        messages: list[dict],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: list[str] | None = None,
        aside: bool = False,
    ) -> Iterator[str]:
        """Yield the answer in text pieces; last_stats is filled when it ends,
        even if the caller stops early. A prompt that does not leave room for
        max_tokens raises ValueError here, at the call, not at the first piece.

        ``aside`` marks a side task (rewriting or translating a question): the
        context it displaces is kept and brought back for the next call that
        continues it, so a chat's system prompt and earlier turns are not processed again.
        """
        prompt = self._tokens(messages)
        check_room(len(prompt), max_tokens, self.n_ctx)
        return self._generate(prompt, max_tokens, temperature, [s for s in (stop or []) if s], aside)

    def _generate(self, prompt: list[int], max_tokens: int, temperature: float, stops: list[str], aside: bool) -> Iterator[str]:
        if self._owner == threading.get_ident():
            raise RuntimeError("a previous stream() of this generator is still open: finish or close it first")
        with self._lock:  # held while the caller iterates
            self._owner = threading.get_ident()
            try:
                self._switch_context(prompt, aside)
                yield from self._run(prompt, max_tokens, temperature, stops)
            finally:
                self._owner = None

    def _run(self, prompt: list[int], max_tokens: int, temperature: float, stops: list[str]) -> Iterator[str]:
        import llama_cpp

        # We drive llm.generate() token by token rather than create_completion():
        # its stream reports no token counts, and we want exact stats.
        llm = self._llm
        start = time.perf_counter()
        stats = GenStats(prompt_tokens=len(prompt), cached_tokens=_common_prefix(llm._input_ids.tolist(), prompt))
        vocab = llama_cpp.llama_model_get_vocab(llm.model)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a CJK char may span tokens
        pending = ""  # text held back while it could be the start of a stop string
        hit = False
        first_at = None
        llm.set_seed(self.seed)  # fixed seed: sampling at temperature > 0 repeats too
        sampling = (
            dict(temp=0.0)  # llama-cpp-python's greedy sampler: the same answer every time
            if temperature <= 0
            else dict(temp=temperature, top_k=40, top_p=0.95, min_p=0.05)
        )
        tokens = llm.generate(prompt, repeat_penalty=1.0, reset=True, **sampling)
        try:
            for token in tokens:
                if first_at is None:
                    first_at = time.perf_counter()
                if token in self._stop_ids or llama_cpp.llama_vocab_is_eog(vocab, token):
                    break
                stats.completion_tokens += 1
                pending += decoder.decode(llm.detokenize([token]))
                out, pending, hit = _split_stop(pending, stops)
                if out:
                    yield out
                if hit or stats.completion_tokens >= max_tokens:
                    break
            if not hit:
                rest = pending + decoder.decode(b"", final=True)
                if rest:
                    yield rest
        finally:
            tokens.close()
            end = time.perf_counter()
            stats.total_ms = (end - start) * 1000
            if first_at is not None:
                stats.ttft_ms = (first_at - start) * 1000
                if stats.completion_tokens > 1 and end > first_at:
                    stats.tokens_per_s = (stats.completion_tokens - 1) / (end - first_at)
            self.last_stats = stats


    # ----------------------------------------------------- kept context

    def _switch_context(self, prompt: list[int], aside: bool) -> None:
        """llama.cpp keeps one context and reuses only its common prefix with the next
        prompt. Before an aside displaces a long context, copy that context's state
        (about 28 KB per token for the default model); before a later call, bring it
        back if it shares more with the prompt than what is live."""
        live = self._llm._input_ids.tolist()
        shared = _common_prefix(live, prompt)
        if aside:
            if len(live) - shared >= _KEEP_MIN_TOKENS:
                self._kept = _KeptState.save(self._llm, live)
        elif self._kept is not None:
            kept, self._kept = self._kept, None
            if _common_prefix(kept.tokens, prompt) > shared:
                kept.restore(self._llm)


@dataclass
class _KeptState:
    tokens: list[int]
    data: ctypes.Array
    size: int

    @classmethod
    def save(cls, llm, tokens: list[int]) -> _KeptState:
        import llama_cpp

        size = llama_cpp.llama_state_get_size(llm._ctx.ctx)
        data = (ctypes.c_uint8 * size)()
        return cls(tokens, data, llama_cpp.llama_state_get_data(llm._ctx.ctx, data, size))

    def restore(self, llm) -> None:
        import llama_cpp

        if llama_cpp.llama_state_set_data(llm._ctx.ctx, self.data, self.size) != self.size:
            llm.reset()  # a state that does not fit: process the prompt in full instead
            return
        llm.input_ids[: len(self.tokens)] = self.tokens
        llm.n_tokens = len(self.tokens)
        llm._requires_eval = True  # restored logits are not a live decode's (see Llama.generate)


# Below this many tokens, recomputing the displaced context is cheaper than copying it.
_KEEP_MIN_TOKENS = 64


_STAND_IN = re.compile("(\ue000\\d+\ue001)")


def check_room(n_prompt: int, max_tokens: int, n_ctx: int) -> None:
    """A prompt that leaves no room for the answer is the caller's bug: say so at the call."""
    if n_prompt + max_tokens > n_ctx:
        raise ValueError(
            f"prompt of {n_prompt} tokens + max_tokens {max_tokens} exceeds n_ctx {n_ctx}: "
            "the caller must shorten the prompt"
        )


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _split_stop(text: str, stops: list[str]) -> tuple[str, str, bool]:
    """(safe to emit, held back, stop found). Text is held back while its end
    could still grow into a stop string, so a stop string is never shown."""
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
    if cut >= 0:
        return text[:cut], "", True
    hold = max((k for s in stops for k in range(1, len(s)) if text.endswith(s[:k])), default=0)
    return text[: len(text) - hold], text[len(text) - hold :], False
