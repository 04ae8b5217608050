"""Text generation with a GGUF chat model through llama-cpp-python.

The only module that imports llama_cpp, and only inside functions, so that
`--help` and the tests that need no model stay fast.

The prompt is rendered once with the chat template stored in the GGUF and
tokenized once; those exact tokens are what count_tokens() counts and what the
model evaluates. Feeding the same token list each time also lets llama.cpp keep
the KV cache of the longest common prefix between consecutive calls (the system
prompt), so only the new part of a prompt is processed.
"""

from __future__ import annotations

import codecs
import collections
import ctypes
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol

from assistant.models import check_gguf
from index.errors import ModelError

# End-of-turn markers of common chat templates. Qwen's GGUF already marks
# <|im_end|> as end-of-generation, but we don't rely on every GGUF doing so.
_END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "</s>")


@dataclass
class GenStats:
    prompt_tokens: int = 0  # the whole prompt, cached prefix included
    completion_tokens: int = 0  # tokens generated, end-of-turn excluded
    ttft_ms: float = 0.0  # from the call to the first generated token
    total_ms: float = 0.0
    tokens_per_s: float = 0.0  # generation tok/s after the first token
    cached_tokens: int = 0  # prompt tokens reused from the previous call's KV cache


class Generator(Protocol):
    n_ctx: int
    last_stats: GenStats

    def count_tokens(self, messages: list[dict]) -> int: ...

    def stream(
        self,
        messages: list[dict],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: list[str] | None = None,
    ) -> Iterator[str]:
        """Yield the answer in text pieces; last_stats is filled when it ends,
        even if the caller stops early. A prompt that does not leave room for
        max_tokens raises ValueError here, at the call, not at the first piece."""
        with self._lock:
            prompt = self._tokens(messages)
        if len(prompt) + max_tokens > self.n_ctx:
            raise ValueError(
                f"prompt of {len(prompt)} tokens + max_tokens {max_tokens} exceeds n_ctx {self.n_ctx}: "
                "the caller must shorten the prompt"
            )
        return self._generate(prompt, max_tokens, temperature, [s for s in (stop or []) if s])

    def _generate(self, prompt: list[int], max_tokens: int, temperature: float, stops: list[str]) -> Iterator[str]:
        import llama_cpp

        # We drive llm.generate() token by token rather than create_completion():
        # its stream does not report token counts, and we want exact stats.
        with self._lock:  # held while the caller iterates: one context, one answer at a time
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

    def system_info(self) -> dict:
        import llama_cpp

        return {
            "llama_cpp_version": llama_cpp.__version__,
            "system_info": llama_cpp.llama_print_system_info().decode("utf-8", errors="replace").strip(),
            "n_threads": self.n_threads,
            "n_ctx": self.n_ctx,
            "model_path": str(self.model_path),
        }


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
