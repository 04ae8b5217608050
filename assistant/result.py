"""What a question gets back: the answer, its checked citations and how it was made."""

from __future__ import annotations

from dataclasses import dataclass, field

from assistant import cite, prompt
from index.types import Hit
from ingest import location


@dataclass
class Answer:
    question: str
    lang: str
    text: str
    refused: bool
    citations: list[dict]
    hits: list[Hit]
    timings: dict
    model: dict
    search_query: str = ""
    notices: list[str] = field(default_factory=list)
    passages: list[prompt.Passage] = field(default_factory=list)  # what [n] refers to
    raw: str = ""  # the model's text before citation checking
    check: dict = field(default_factory=dict)  # how the model's own citations fared
    privacy: dict = field(default_factory=dict)  # bytes a hosted model would have received; bytes sent
    refused_by: str = ""  # which stage refused: "retrieval", "model" (its own refusal) or "checker"

    def to_json(self) -> dict:
        return {
            "question": self.question,
            "answer": self.text,
            "refused": self.refused,
            "citations": self.citations,
            "retrieved": [
                {"chunk_id": h.chunk.id, "source": h.chunk.source, **dict(h.chunk.location), "score": round(h.score, 5), "text": h.chunk.text}
                for h in self.hits
            ],
            "timings": self.timings,
            "model": self.model,
            "notices": self.notices,
            "privacy": self.privacy,
        }


def citations(checked: list[cite.Citation], found: list[prompt.Passage]) -> list[dict]:
    """Each passage cited, once, as the JSON output shows it: where in which document it points."""
    out, seen = [], set()
    for c in checked:
        if c.n in seen:
            continue
        seen.add(c.n)
        p = found[c.n - 1]
        out.append({
            "n": c.n,
            "source": p.chunk.source,
            "title": p.chunk.title,
            "chunk_id": p.chunk.id,
            "chunk_ids": [h.chunk.id for h in p.hits],
            "start": p.start,  # character offsets into the cleaned document
            "end": p.end,
            **where(p.chunk.headings, location.merge([h.chunk.location for h in p.hits])),
            "snippet": p.text[:200],
            "support": round(c.support, 3),
            "status": c.status,
        })
    return out


def where(headings: tuple[str, ...], loc: tuple) -> dict:
    """Where a passage sits in its original file: page, slide, sheet and rows when the
    format has them, the section path when it has headings, and a label to print."""
    out = dict(loc)
    if headings:
        out["section"] = " / ".join(headings)
    if loc:
        out["location"] = location.label(loc)
    return out
