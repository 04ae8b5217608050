"""Text generation with a GGUF chat model through llama-cpp-python, in this process.

The prompt is rendered once with the chat template stored in the GGUF and
tokenized once; those exact tokens are what count_tokens() counts and what the
model evaluates. Feeding token lists also lets llama.cpp keep the KV cache of
the longest common prefix with the previous call (system prompt, earlier
turns), so only the new part of a prompt is processed.
"""

from __future__ import annotations

import codecs
import ctypes
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from assistant.llm import llama
from assistant.llm.chat import ChatTemplate
from assistant.llm.llama import check_llama_build
from assistant.llm.models import check_gguf
from assistant.llm.prefix import SavedPrefix, common_prefix
from assistant.llm.stream import SAMPLING, GenStats, check_room, split_stop
from index.errors import ModelError

# GenStats and check_llama_build are imported from here too (callers older than llama.py and stream.py).
__all__ = ["LlamaGenerator", "GenStats", "check_llama_build"]


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
        prefix_dir: Path | None = None,
    ) -> None:
        """``prefix_dir``: where the system turn's state is saved and read back (assistant.llm.prefix); None: not saved."""
        check_gguf(model_path)
        llama.install_log_callback()
        llama.start_log(verbose)
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
            self._llm = llama.load(
                model_path,
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
                    f"not enough memory for a {n_ctx}-token context ({llama.llama_said()}): use a smaller --n-ctx"
                ) from None
            raise ModelError(
                f"cannot load model {model_path} ({llama.llama_said()}): "
                "the file is truncated or corrupt; re-create or re-download it, or check --model"
            ) from None
        self.chat = ChatTemplate(self._llm, self.model_path)
        self._stop_ids = self.chat.end_of_turn_ids()
        self._prefix = SavedPrefix(prefix_dir, self.model_path, n_ctx) if prefix_dir else None

    # -------------------------------------------------------------- prompt

    def render(self, messages: list[dict]) -> str:
        return self.chat.render(messages)

    def _tokens(self, messages: list[dict]) -> list[int]:
        return self.chat.tokens(messages)

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
        watch: str = "",
    ) -> Iterator[str]:
        """Yield the answer in text pieces; last_stats is filled when it ends,
        even if the caller stops early. A prompt that does not leave room for
        max_tokens raises ValueError here, at the call, not at the first piece.

        ``aside`` marks a side task (rewriting or translating a question): the
        context it displaces is kept and brought back for the next call that
        continues it, so a chat's system prompt and earlier turns are not processed again.

        ``watch``: a text whose first token's probability as the answer's first token goes
        into last_stats.watch_p (the refusal sentence: how close the model came to refusing).
        """
        prompt = self._tokens(messages)
        check_room(len(prompt), max_tokens, self.n_ctx)
        # The system turn: the prompt's tokens it shares with the system message rendered alone.
        system = common_prefix(self._tokens(messages[:1]), prompt) if messages and messages[0]["role"] == "system" else 0
        watched = self.chat.tokenize(watch)[:1] if watch else []
        return self._generate(prompt, system, max_tokens, temperature, [s for s in (stop or []) if s], aside, watched)

    def _generate(self, prompt: list[int], system: int, max_tokens: int, temperature: float, stops: list[str],
                  aside: bool, watched: list[int]) -> Iterator[str]:
        if self._owner == threading.get_ident():
            raise RuntimeError("a previous stream() of this generator is still open: finish or close it first")
        with self._lock:  # held while the caller iterates
            self._owner = threading.get_ident()
            try:
                self._switch_context(prompt, aside)
                yield from self._run(prompt, system, max_tokens, temperature, stops, watched)
            finally:
                self._owner = None

    def _run(self, prompt: list[int], system: int, max_tokens: int, temperature: float, stops: list[str],
             watched: list[int]) -> Iterator[str]:
        # We drive llm.generate() token by token rather than create_completion():
        # its stream reports no token counts, and we want exact stats.
        llm = self._llm
        start = time.perf_counter()
        live = common_prefix(llm._input_ids.tolist(), prompt)
        restored = self._prefix.bring(llm, prompt, system) if self._prefix else 0
        stats = GenStats(prompt_tokens=len(prompt), cached_tokens=max(live, restored))
        ends_generation = llama.end_of_generation(llm)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a CJK char may span tokens
        pending = ""  # text held back while it could be the start of a stop string
        hit = False
        first_at = None
        llm.set_seed(self.seed)  # fixed seed: sampling at temperature > 0 repeats too
        sampling = (
            dict(temp=0.0)  # llama-cpp-python's greedy sampler: the same answer every time
            if temperature <= 0
            else dict(temp=temperature, **SAMPLING)
        )
        tokens = llm.generate(prompt, repeat_penalty=1.0, reset=True, **sampling)
        try:
            for token in tokens:
                if first_at is None:
                    first_at = time.perf_counter()
                    if watched:  # the prompt's logits, still in the context until the next decode
                        stats.watch_p = llama.token_p(llm, watched[0])
                if token in self._stop_ids or ends_generation(token):
                    break
                stats.completion_tokens += 1
                pending += decoder.decode(llm.detokenize([token]))
                out, pending, hit = split_stop(pending, stops)
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
            self.last_stats = stats.timed(start, first_at, time.perf_counter())

    # ----------------------------------------------------- kept context

    def _switch_context(self, prompt: list[int], aside: bool) -> None:
        """llama.cpp keeps one context and reuses only its common prefix with the next
        prompt. Before an aside displaces a long context, copy that context's state
        (about 28 KB per token for the default model); before a later call, bring it
        back if it shares more with the prompt than what is live."""
        live = self._llm._input_ids.tolist()
        shared = common_prefix(live, prompt)
        if aside:
            if len(live) - shared >= _KEEP_MIN_TOKENS:
                self._kept = _KeptState.save(self._llm, live)
        elif self._kept is not None:
            kept, self._kept = self._kept, None
            if common_prefix(kept.tokens, prompt) > shared:
                kept.restore(self._llm)


@dataclass
class _KeptState:
    tokens: list[int]
    data: ctypes.Array
    size: int

    @classmethod
    def save(cls, llm, tokens: list[int]) -> _KeptState:
        return cls(tokens, *llama.save_state(llm))

    def restore(self, llm) -> None:
        if not llama.restore_state(llm, self.data, self.size):
            llm.reset()  # a state that does not fit: process the prompt in full instead
            return
        llm.input_ids[: len(self.tokens)] = self.tokens
        llm.n_tokens = len(self.tokens)
        llm._requires_eval = True  # restored logits are not a live decode's (see Llama.generate)


# Below this many tokens, recomputing the displaced context is cheaper than copying it.
_KEEP_MIN_TOKENS = 64
