"""Question -> retrieval -> prompt -> llama.cpp -> checked, cited answer.

The CLI and the UI are thin adapters over ``Assistant``: it opens the index and
the models once and answers any number of questions.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from assistant import cite, evidence, prompt, servers
from assistant.privacy import usage
from assistant.privacy import egress
from assistant.config import Settings
from index.embed import SentenceTransformerEmbedder
from index.errors import ConfigError, Error
from index.search import Fusion, Index
from index.types import Hit
from ingest import location
from ingest.chunk import CHUNKER_VERSION

# A question that asks for a list is given the whole section of its best two hits
# (at most six chunks each) rather than each hit and the chunk after it.
LIST_SECTIONS = 2
SECTION_CHUNKS = 6


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


@dataclass(frozen=True)
class Retrieval:
    query: str  # what was searched: the question, or a follow-up rewritten to stand alone
    expansion: str | None  # words added to the lexical side (a translation of an English question)
    hits: list[Hit]
    rewrite_ms: float  # time the model spent rewriting or translating the question
    retrieve_ms: float
    prompt_bytes: int = 0  # text given to the model for the rewrite or translation


def chunker_id(settings: Settings) -> str:
    return f"v{CHUNKER_VERSION}:size={settings.chunk_size}:overlap={settings.chunk_overlap}"


class Assistant:
    """The index and the models of one data folder, opened once and shared by every question."""

    def __init__(self, settings: Settings, *, progress: bool = True, preload: bool = False):
        from assistant.llm.models import default_embedder_path

        self.settings = settings
        self.progress = progress
        self._generator = None
        self._generator_lock = threading.Lock()
        if preload:
            self.preload()
        # The embedder runs as an ONNX export kept beside the models (see index.embed).
        self.embedder = SentenceTransformerEmbedder(settings.embed_model or default_embedder_path(), onnx_dir=settings.models_dir / "onnx")
        self.index = Index(
            servers.index_root(settings), self.embedder, chunker=chunker_id(settings),
            chroma_url=settings.chroma_url, chroma_path=servers.started_chroma_path(settings),
        )
        self.fusion = Fusion(dense=settings.dense_weight, lexical=settings.lexical_weight)
        self._sent = threading.local()  # bytes of prompt given to the model by this thread's question

    # -- models -------------------------------------------------------------------------

    def model_path(self) -> Path:
        from assistant.llm.models import check_gguf, ensure_default_gguf

        if self.settings.model is None:
            return ensure_default_gguf(self.settings.models_dir, progress=self.progress)
        check_gguf(self.settings.model)
        return self.settings.model

    @property
    def generator(self):
        with self._generator_lock:
            if self._generator is None and self.settings.llm_url:  # a model server; this GGUF only for its vocabulary
                from assistant.llm.remote import RemoteGenerator

                s = self.settings
                self._generator = RemoteGenerator(s.llm_url, self.model_path(), n_ctx=s.n_ctx, seed=s.seed)
            if self._generator is None:
                from assistant.llm.local import LlamaGenerator

                s = self.settings
                self._generator = LlamaGenerator(
                    self.model_path(), n_ctx=s.n_ctx, n_threads=s.n_threads or None, seed=s.seed
                )
        return self._generator

    def preload(self) -> None:
        """Load the GGUF in the background while the index opens and the question is searched.

        llama.cpp reads the model outside the GIL, so on a cold start the two overlap
        instead of adding up. Only a model that is already on disk: assembling the
        default one is a first-run step with its own progress bar. A failure here is
        not reported; the first real use of the generator raises it again, with its message.
        """
        from assistant.llm.models import default_gguf_ready

        if self.settings.model is None and not default_gguf_ready(self.settings.models_dir):
            return

        def load() -> None:
            try:
                self.generator
            except Exception:
                pass

        threading.Thread(target=load, name="load-model", daemon=True).start()

    def model_info(self) -> dict:
        from assistant.llm.models import describe

        info = describe(self.generator.model_path, self.settings.models_dir)
        server = {"server": self.settings.llm_url} if self.settings.llm_url else {}
        return {"path": str(info.path), "sha256": info.sha256[:12], "bytes": info.size, **server}

    # -- corpus -------------------------------------------------------------------------

    def ingest(self, paths: list[Path]):
        from ingest.pipeline import ingest

        s = self.settings
        return ingest(self.index, paths, size=s.chunk_size, overlap=s.chunk_overlap, progress=self.progress, redact=s.redact, ocr=s.ocr)

    def forget(self, source: str) -> int:
        """Remove a document from both indexes, wipe its text from the store's files, and
        delete the copy of it that an upload left in our data folder (never the user's own file)."""
        from ingest.pipeline import forget

        n, path = forget(self.index, source)
        uploads = self.settings.uploads_dir.resolve()
        if path and uploads in Path(path).resolve().parents:
            Path(path).unlink(missing_ok=True)
        return n

    def ensure_ingested(self):
        """An empty index is filled from the bundled corpus, so the first question just works."""
        if self.index.count() == 0:
            if not self.settings.corpus.is_dir():
                raise ConfigError(
                    f"the index is empty and the corpus folder {self.settings.corpus} does not exist: "
                    "run `assistant ingest PATH` first, or set corpus in config.toml"
                )
            return self.ingest([self.settings.corpus])
        return None

    # -- questions ----------------------------------------------------------------------

    def _complete(self, messages: list[dict], max_tokens: int) -> str:
        if self.generator.count_tokens(messages) + max_tokens > self.generator.n_ctx:
            return ""  # e.g. a long conversation to rewrite: the caller searches with the question as asked
        self._sent.n = getattr(self._sent, "n", 0) + _bytes(messages)
        return "".join(self.generator.stream(messages, max_tokens=max_tokens, temperature=0.0, aside=True)).strip()

    def search_query(self, question: str, lang: str, history: list[dict] | None) -> tuple[str, str | None]:
        """The question as retrieval should see it, and words to add to the lexical side.

        A follow-up ("它的缺点呢？") is rewritten into a standalone question; an
        English question gets a Chinese translation for BM25, which matches words, not meanings.
        """
        query = question
        if history:
            query = self._complete(prompt.rewrite_messages(question, history, lang), 96) or question
        expansion = self._complete(prompt.translate_messages(query), 96) if lang != "zh" else None
        return query, expansion

    def fit(self, question: str, found: list[prompt.Passage], lang: str, history: list[dict]):
        """Messages that fit the context window with room for the answer; say what had to go."""
        budget = self.settings.n_ctx - self.settings.max_tokens
        notices: list[str] = []
        history, found = list(history), list(found)
        while True:
            messages = prompt.build_messages(question, found, lang, history)
            if self.generator.count_tokens(messages) <= budget:
                return messages, found, notices
            if history:
                history = history[2:]
                notices.append("dropped the oldest turn of the conversation to fit the context window")
            elif len(found) > 1:
                found.pop()
                notices.append(f"dropped passage {len(found) + 1} to fit the context window")
            elif len(question) > 20:
                question = question[: len(question) * 3 // 4]
                notices.append(f"cut the question to its first {len(question)} characters to fit the context window")
            else:
                raise Error("the question alone does not fit the context window: shorten it or raise --n-ctx")

    def retrieve(self, question: str, *, history: list[dict] | None = None, k: int | None = None) -> Retrieval:
        lang = prompt.language(question)
        t0 = time.perf_counter()
        self._sent.n = 0
        query, expansion = self.search_query(question, lang, history)
        self.index.warm()  # model and dictionary loading is start-up, not retrieval time
        t1 = time.perf_counter()
        hits = self.index.search(query, k or self.settings.k, self.fusion, expand=(lambda _: expansion) if expansion else None)
        t2 = time.perf_counter()
        return Retrieval(query, expansion, hits, round((t1 - t0) * 1000, 1), round((t2 - t1) * 1000, 1), self._sent.n)

    def prepare_question(self, question: str) -> tuple[str, list[str]]:
        """The question without control characters, cut to at most a quarter of the room
        for the prompt (a question longer than that is a pasted document), and what was done."""
        question = prompt.clean_question(question)
        if not prompt.has_words(question):
            return question, []
        limit = (self.settings.n_ctx - self.settings.max_tokens) // 4
        total = len(question)
        n = self.generator.count_tokens([{"role": "user", "content": question}])
        while n > limit and len(question) > 1:
            question = question[: max(1, int(len(question) * limit / n * 0.95))]
            n = self.generator.count_tokens([{"role": "user", "content": question}])
        if len(question) < total:
            return question, [f"the question was cut to its first {len(question)} of {total} characters to fit the context window"]
        return question, []

    def ask(
        self,
        question: str,
        *,
        history: list[dict] | None = None,
        on_token: Callable[[str], None] | None = None,
        k: int | None = None,
        retrieval: Retrieval | None = None,
    ) -> Answer:
        """Answer from the top k chunks (of ``retrieval`` when given, e.g. by an evaluation that ranked more)."""
        guard = egress.current()
        refused_before = guard.count if guard else 0
        question, cut = self.prepare_question(question)
        answer = self._ask(question, history, on_token, k, retrieval)
        answer.notices[:0] = cut
        # What a hosted model would have had to receive: every prompt built for this
        # answer (rewrite or translation included); what left the machine: nothing,
        # unless the model runs on a server elsewhere (llm_url): then those prompts.
        sent = answer.privacy.get("prompt_bytes", 0) if servers.off_machine(self.settings.llm_url) else 0
        answer.privacy = {
            "would_upload_bytes": answer.privacy.get("prompt_bytes", 0) or len(answer.question.encode("utf-8")),
            "document_bytes": answer.privacy.get("document_bytes", 0),
            "sent_bytes": sent,
            "refused_attempts": (guard.count if guard else 0) - refused_before,
        }
        usage.record_question(self.settings, answer.privacy)
        usage.debug_record(self.settings, answer)
        return answer

    def _ask(self, question, history, on_token, k, retrieval) -> Answer:
        started = time.perf_counter()
        question = question.strip()
        lang = prompt.language(question)
        if not prompt.has_words(question):  # empty, punctuation, emoji: nothing to search for or ask
            return self._refusal(question, lang, [], {}, started, question, ["the question has no words to search for"], by="retrieval")
        r = retrieval or self.retrieve(question, history=history, k=k)
        hits, query = r.hits[: k or self.settings.k], r.query
        timings = {"rewrite_ms": r.rewrite_ms, "retrieve_ms": r.retrieve_ms}
        if not hits:
            return self._refusal(question, lang, hits, timings, started, query, ["no passage matched the question"], by="retrieval")

        t_prompt = time.perf_counter()
        if evidence.asks_for_list(query):
            context = self.index.with_sections(hits, LIST_SECTIONS, SECTION_CHUNKS, self.settings.follow)
        else:
            context = self.index.with_following(hits, self.settings.follow)
        messages, found, notices = self.fit(question, prompt.passages(context), lang, history or [])
        timings["prompt_ms"] = round((time.perf_counter() - t_prompt) * 1000, 1)
        # The retrieval gate: when even the best passage lacks most of what the question is
        # about, the model would only find something near it to say. (Not for a question in
        # another language than the documents: its words cannot be looked up in them.)
        # The gates read the question as asked: a follow-up's rewrite (``query``) is for
        # retrieval only, and the small model sometimes writes an answer instead of it.
        gate = {"retrieval_evidence": round(evidence.retrieval_score(question, found), 3) if lang == "zh" else None}
        if gate["retrieval_evidence"] is not None and gate["retrieval_evidence"] < evidence.RETRIEVAL_GATE:
            why = f"the passages found hold too few of the question's key terms ({gate['retrieval_evidence']:.2f})"
            refusal = self._refusal(question, lang, hits, timings, started, query, [*notices, why], check=dict(gate), by="retrieval")
            refusal.passages = found
            return refusal
        sizes = {"prompt_bytes": r.prompt_bytes + _bytes(messages), "document_bytes": sum(len(p.text.encode("utf-8")) for p in found)}
        pieces: list[str] = []
        for piece in self.generator.stream(messages, max_tokens=self.settings.max_tokens, temperature=self.settings.temperature):
            pieces.append(piece)
            if on_token:
                on_token(piece)
        raw = "".join(pieces).strip()
        stats = self.generator.last_stats
        timings.update(
            ttft_ms=round(stats.ttft_ms, 1),
            prompt_tokens=stats.prompt_tokens,
            completion_tokens=stats.completion_tokens,
            tokens_per_s=round(stats.tokens_per_s, 2),
        )

        t_check = time.perf_counter()
        judged = evidence.judge(question, raw, found, cross_lingual=lang != "zh")
        checked = judged.checked
        timings["check_ms"] = round((time.perf_counter() - t_check) * 1000, 1)
        check = {
            "model_markers": len(cite.markers(raw)),
            "ok": sum(c.status == "ok" for c in checked.citations),
            "moved": sum(c.status == "moved" for c in checked.citations),
            "added": sum(c.status == "added" for c in checked.citations),
            "dropped": len(checked.dropped),
            "copied": checked.copied,  # markers the model copied out of a passage's text, ignored
            **gate,
            "answer_evidence": judged.score,
        }
        if checked.dropped:
            notices.append(f"removed {len(checked.dropped)} citation(s) that the cited passage does not support")
        if judged.refused_by:
            if checked.citations:
                check["unjudged"] = checked.text  # what the evidence gate held back, for the accuracy/rejection curve
            refusal = self._refusal(question, lang, hits, timings, started, query, notices + [judged.why], raw, check, by=judged.refused_by)
            refusal.passages = found  # what the model read, for whoever studies the refusal
            refusal.privacy = sizes
            return refusal
        citations = [_citation(c, found[c.n - 1]) for c in _unique(checked.citations)]
        timings["total_ms"] = round((time.perf_counter() - started) * 1000, 1)
        return Answer(question, lang, checked.text, False, citations, hits, timings, self.model_info(), query, notices, found, raw, check, sizes)

    def _refusal(self, question, lang, hits, timings, started, query, notices, raw="", check=None, *, by: str) -> Answer:
        timings["total_ms"] = round((time.perf_counter() - started) * 1000, 1)
        model = self.model_info() if self._generator else {}
        return Answer(question, lang, prompt.REFUSAL[lang], True, [], hits, timings, model, query, notices, raw=raw, check=check or {}, refused_by=by)


def _bytes(messages: list[dict]) -> int:
    return sum(len(m["content"].encode("utf-8")) for m in messages)


def _citation(c: cite.Citation, p: prompt.Passage) -> dict:
    """A checked citation as the JSON output shows it: where in which document it points."""
    return {
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
    }


def where(headings: tuple[str, ...], loc: tuple) -> dict:
    """Where a passage sits in its original file: page, slide, sheet and rows when the
    format has them, the section path when it has headings, and a label to print."""
    out = dict(loc)
    if headings:
        out["section"] = " / ".join(headings)
    if loc:
        out["location"] = location.label(loc)
    return out


def _unique(citations):
    seen: set[int] = set()
    for c in citations:
        if c.n not in seen:
            seen.add(c.n)
            yield c
