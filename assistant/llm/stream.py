"""What every generator shares: the protocol, its statistics, the sampling, and stop strings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Protocol

# The sampling at temperature > 0, in process and on a server; at 0 both are greedy
# and never apply a repeat penalty.
SAMPLING = {"top_k": 40, "top_p": 0.95, "min_p": 0.05}


@dataclass
class GenStats:
    prompt_tokens: int = 0  # the whole prompt, cached prefix included
    completion_tokens: int = 0  # tokens generated, end-of-turn excluded
    ttft_ms: float = 0.0  # from the start of generation to the first generated token
    total_ms: float = 0.0
    tokens_per_s: float = 0.0  # generation tok/s after the first token
    cached_tokens: int = 0  # prompt tokens reused from the previous call's KV cache
    watch_p: float | None = None  # probability of the watched text's first token as the first one (None: not measured)

    def timed(self, start: float, first_at: float | None, end: float) -> GenStats:
        """Fill the timings from perf_counter() stamps; completion_tokens must be set already."""
        self.total_ms = (end - start) * 1000
        if first_at is not None:
            self.ttft_ms = (first_at - start) * 1000
            if self.completion_tokens > 1 and end > first_at:
                self.tokens_per_s = (self.completion_tokens - 1) / (end - first_at)
        return self


class Generator(Protocol):
    n_ctx: int
    last_stats: GenStats

    def count_tokens(self, messages: list[dict]) -> int: ...

    def stream(
        self, messages: list[dict], *, max_tokens: int, temperature: float = 0.0, stop: list[str] | None = None,
        aside: bool = False,
    ) -> Iterator[str]: ...


def check_room(n_prompt: int, max_tokens: int, n_ctx: int) -> None:
    """A prompt that leaves no room for the answer is the caller's bug: say so at the call."""
    if n_prompt + max_tokens > n_ctx:
        raise ValueError(
            f"prompt of {n_prompt} tokens + max_tokens {max_tokens} exceeds n_ctx {n_ctx}: "
            "the caller must shorten the prompt"
        )


def split_stop(text: str, stops: list[str]) -> tuple[str, str, bool]:
    """(safe to emit, held back, stop found). Text is held back while its end
    could still grow into a stop string, so a stop string is never shown."""
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
    if cut >= 0:
        return text[:cut], "", True
    hold = max((k for s in stops for k in range(1, len(s)) if text.endswith(s[:k])), default=0)
    return text[: len(text) - hold], text[len(text) - hold :], False
