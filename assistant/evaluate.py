"""Quality metrics over a gold question file. The metric functions are pure."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from index.errors import ConfigError

KINDS = {"fact", "list", "compare", "synthesis", "unanswerable"}


@dataclass(frozen=True)
class Gold:
    id: str
    lang: str
    kind: str
    question: str
    sources: tuple[str, ...]
    evidence: tuple[str, ...]
    must_mention: tuple[tuple[str, ...], ...]


def load_gold(path: Path) -> list[Gold]:
    """Read a JSON-lines gold file; a malformed line is an error that names the line."""
    out = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            g = Gold(
                str(d["id"]), d["lang"], d["kind"], d["question"], tuple(d["sources"]),
                tuple(d["evidence"]), tuple(tuple(group) for group in d["must_mention"]),
            )
        except (ValueError, KeyError, TypeError) as err:
            raise ConfigError(f"{path}:{n}: not a gold question ({type(err).__name__}: {err})") from err
        if g.kind not in KINDS:
            raise ConfigError(f"{path}:{n}: unknown kind {g.kind!r} (one of {', '.join(sorted(KINDS))})")
        out.append(g)
    return out


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def first_hit_rank(retrieved: list[str], evidence: tuple[str, ...]) -> int | None:
    """1-based rank of the first retrieved text that contains an evidence string (whitespace ignored)."""
    wanted = [_squash(e) for e in evidence]
    for rank, text in enumerate(retrieved, 1):
        flat = _squash(text)
        if any(w in flat for w in wanted):
            return rank
    return None


def hit_at(rank: int | None, k: int) -> float:
    return 1.0 if rank is not None and rank <= k else 0.0


def reciprocal_rank(rank: int | None, k: int = 10) -> float:
    return 1.0 / rank if rank is not None and rank <= k else 0.0


def coverage(answer: str, must_mention: tuple[tuple[str, ...], ...]) -> float:
    """Share of must-mention groups satisfied by the answer (a group: any of its alternatives)."""
    if not must_mention:
        return 1.0
    low = answer.lower()
    return sum(any(alt.lower() in low for alt in group) for group in must_mention) / len(must_mention)
