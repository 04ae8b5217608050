"""Question -> retrieval -> prompt -> llama.cpp -> checked, cited answer.

The CLI, the web page and other programs are thin adapters over ``Assistant``: it
opens the index and the models once and answers any number of questions.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from assistant import cite, evidence, focus, preview, prompt, result, servers
from assistant.config import DEFAULT_KB, ConfigError, Settings
from assistant.llm.slot import ModelSlot
from assistant.privacy import usage
from assistant.result import Answer
from assistant.retrieve import Retrieval, Retriever, prompt_bytes
from assistant.scope import resolve as resolve_scope
from index.embed import SentenceTransformerEmbedder
from index.search import Index
from ingest.chunk import CHUNKER_VERSION

# A question that asks for a list is given the whole section of its best two hits
# (at most six chunks each) rather than each hit and the chunk after it.
LIST_SECTIONS = 2
SECTION_CHUNKS = 6


def chunker_id(settings: Settings) -> str:
    return f"v{CHUNKER_VERSION}:size={settings.chunk_size}:overlap={settings.chunk_overlap}"


def open_index(settings: Settings, embedder=None) -> Index:
    """The index of the knowledge base ``settings`` name; the embedder loads only when first used."""
    from assistant.llm.models import default_embedder_path

    # The embedder runs as an ONNX export kept beside the models (see index.embed).
    embedder = embedder or SentenceTransformerEmbedder(
        settings.embed_model or default_embedder_path(), onnx_dir=settings.models_dir / "onnx")
    return Index(
        servers.index_root(settings), embedder, chunker=chunker_id(settings),
        chroma_url=settings.chroma_url, chroma_path=servers.started_chroma_path(settings),
        collection=servers.collection(settings),
    )


class Assistant:
    """The index and the models of one data folder, opened once and shared by every question.

    ``generator`` and ``embedder`` replace the configured models (a test's fake, or a
    model another Assistant already loaded); ``models``, another Assistant's ModelSlot,
    shares its answer model, loaded or not (one model for every knowledge base)."""

    def __init__(self, settings: Settings, *, progress: bool = True, preload: bool = False, generator=None, embedder=None,
                 models: ModelSlot | None = None):
        self.settings = settings
        self.progress = progress
        self.models = models or ModelSlot(settings, progress=progress, generator=generator)
        if preload:
            self.models.preload()
        self.index = open_index(settings, embedder)
        self.embedder = self.index.embedder
        self.retriever = Retriever(settings, self.index, self.models)

    # -- models: see assistant.llm.slot ---------------------------------------------------

    @property
    def generator(self):
        return self.models.generator

    def model_path(self) -> Path:
        return self.models.path()

    def model_info(self) -> dict:
        return self.models.info()

    @property
    def fusion(self):
        return self.retriever.fusion

    # -- corpus -------------------------------------------------------------------------

    def ingest(self, paths: list[Path]):
        from ingest.pipeline import ingest

        s = self.settings
        return ingest(self.index, paths, size=s.chunk_size, overlap=s.chunk_overlap, progress=self.progress, redact=s.redact, ocr=s.ocr)

    def forget(self, source: str) -> int:
        """Remove a document from both indexes, wipe its text from the store's files, and
        delete the copy of it that an upload left in our data folder (never the user's own file)."""
        from ingest.forget import forget

        n, path = forget(self.index, source)
        uploads = self.settings.uploads_dir.resolve()
        if path and uploads in Path(path).resolve().parents:
            Path(path).unlink(missing_ok=True)
        return n

    def ensure_ingested(self):
        """An empty default index is filled from the bundled corpus, so the first question just works."""
        if self.index.count() == 0 and self.settings.kb != DEFAULT_KB:  # made for the user's own documents
            raise ConfigError(f"the knowledge base {self.settings.kb!r} is empty: add documents with "
                              f"assistant ingest --kb {self.settings.kb} PATH")
        if self.index.count() == 0:
            if not self.settings.corpus.is_dir():
                raise ConfigError(
                    f"the index is empty and the corpus folder {self.settings.corpus} does not exist: "
                    "run `assistant ingest PATH` first, or set corpus in config.toml"
                )
            return self.ingest([self.settings.corpus])
        return None

    # -- questions ----------------------------------------------------------------------

    def scope(self, *, sources=(), under=()) -> frozenset[str] | None:
        """The documents named by source name or path (``sources``) and by folder (``under``);
        None when neither is given; a name or folder that matches nothing is a ScopeError."""
        from ingest.manifest import MANIFEST_NAME, Manifest

        paths = {s: e["path"] for s, e in Manifest(self.index.root / MANIFEST_NAME).entries.items()}
        return resolve_scope(self.index.documents(), paths, sources=sources, under=under)

    def retrieve(self, question: str, *, history: list[dict] | None = None, k: int | None = None,
                 sources: frozenset[str] | None = None) -> Retrieval:
        """The passages ``question`` finds (a follow-up, given its ``history``, rewritten first)."""
        return self.retriever.retrieve(prompt.Question.read(question), history=history, k=k, sources=sources)

    def fit(self, question: str, found: list[prompt.Passage], lang: str, history: list[dict]):
        return self.retriever.fit(question, found, lang, history)

    def ask(
        self,
        question: str,
        *,
        history: list[dict] | None = None,
        on_token: Callable[[str], None] | None = None,
        on_preview: Callable[[str, str], None] | None = None,
        k: int | None = None,
        retrieval: Retrieval | None = None,
        sources: frozenset[str] | None = None,
    ) -> Answer:
        """Answer from the top k chunks (of ``retrieval`` when given, e.g. by an evaluation that ranked more),
        of the documents ``sources`` only when given (``scope``).

        ``on_token`` gets the model's text as it is written; ``on_preview``, before the
        model starts, sentences quoted from the passages that pass the answer's checks
        (assistant.preview) and the question's language."""
        refused_before = usage.refused_count()
        question, cut = self.retriever.prepare(question)
        answer = self._ask(question, history, on_token, on_preview, k, retrieval, sources)
        answer.notices[:0] = cut
        answer.privacy = usage.account(self.settings, answer, refused_before)
        return answer

    def _ask(self, q: prompt.Question, history, on_token, on_preview, k, retrieval, sources) -> Answer:
        started = time.perf_counter()
        question, lang = q.text, q.lang
        refuse = _Refuser(self, question, lang, started)
        if not q.has_words:  # empty, punctuation, emoji: nothing to search for or ask
            return refuse([], {}, question, ["the question has no words to search for"], by="retrieval")
        r = retrieval or self.retriever.retrieve(q, history=history, k=k, sources=sources)
        hits, query = r.hits[: k or self.settings.k], r.query
        timings = {"rewrite_ms": r.rewrite_ms, "retrieve_ms": r.retrieve_ms}
        if not hits:
            return refuse(hits, timings, query, ["no passage matched the question"], by="retrieval")

        t_prompt = time.perf_counter()
        if evidence.asks_for_list(query):
            context = self.index.with_sections(hits, LIST_SECTIONS, SECTION_CHUNKS, self.settings.follow)
        else:
            context = self.index.with_following(hits, self.settings.follow)
        found = prompt.passages(context)
        if self.settings.focus:  # off by default: it costs some accuracy (README, "Speed")
            found = focus.focus(question, found)
        messages, found, notices = self.fit(question, found, lang, history or [])
        timings["prompt_ms"] = round((time.perf_counter() - t_prompt) * 1000, 1)
        # The retrieval gate: when even the best passage lacks most of what the question is
        # about, the model would only find something near it to say. (Not for a question in
        # another language than the documents: its words cannot be looked up in them.)
        # The gates read the question as asked: a follow-up's rewrite (``query``) is for
        # retrieval only, and the small model sometimes writes an answer instead of it.
        gate = {"retrieval_evidence": round(evidence.retrieval_score(question, found), 3) if lang == "zh" else None}
        if gate["retrieval_evidence"] is not None and gate["retrieval_evidence"] < evidence.RETRIEVAL_GATE:
            why = f"the passages found hold too few of the question's key terms ({gate['retrieval_evidence']:.2f})"
            return refuse(hits, timings, query, [*notices, why], check=dict(gate), by="retrieval", found=found)
        sizes = {"prompt_bytes": r.prompt_bytes + prompt_bytes(messages), "document_bytes": sum(len(p.text.encode("utf-8")) for p in found)}
        if on_preview and (quoted := preview.quotes(question, found)):
            on_preview(quoted, lang)
        raw = self._generate(messages, on_token, timings, watch=prompt.REFUSAL[lang])

        t_check = time.perf_counter()
        refusal_p = timings.pop("refusal_p")
        judged = evidence.judge(question, raw, found, cross_lingual=lang != "zh", refusal_p=refusal_p)
        checked = judged.checked
        timings["check_ms"] = round((time.perf_counter() - t_check) * 1000, 1)
        check = {**_citation_counts(raw, checked), **gate, "answer_evidence": judged.score, "refusal_p": refusal_p}
        if checked.dropped:
            notices.append(f"removed {len(checked.dropped)} citation(s) that the cited passage does not support")
        if judged.refused_by:
            if checked.citations:
                check["unjudged"] = checked.text  # what the evidence gate held back, for the accuracy/rejection curve
            return refuse(hits, timings, query, notices + [judged.why], raw, check, by=judged.refused_by, found=found, sizes=sizes)
        citations = result.citations(checked.citations, found)
        timings["total_ms"] = round((time.perf_counter() - started) * 1000, 1)
        return Answer(question, lang, checked.text, False, citations, hits, timings, self.model_info(), query, notices, found, raw, check, sizes)

    def _generate(self, messages: list[dict], on_token, timings: dict, watch: str) -> str:
        """The model's answer, streamed to ``on_token`` piece by piece; its figures into ``timings``."""
        pieces: list[str] = []
        for piece in self.generator.stream(messages, max_tokens=self.settings.max_tokens, temperature=self.settings.temperature,
                                           watch=watch):
            pieces.append(piece)
            if on_token:
                on_token(piece)
        stats = self.generator.last_stats
        timings.update(
            ttft_ms=round(stats.ttft_ms, 1),
            prompt_tokens=stats.prompt_tokens,
            completion_tokens=stats.completion_tokens,
            tokens_per_s=round(stats.tokens_per_s, 2),
            refusal_p=stats.watch_p,
        )
        return "".join(pieces).strip()


class _Refuser:
    """Makes the refusal of one question, whichever stage refuses it."""

    def __init__(self, assistant: Assistant, question: str, lang: str, started: float):
        self.assistant, self.question, self.lang, self.started = assistant, question, lang, started

    def __call__(self, hits, timings, query, notices, raw="", check=None, *, by: str, found=(), sizes=None) -> Answer:
        timings["total_ms"] = round((time.perf_counter() - self.started) * 1000, 1)
        model = self.assistant.model_info() if self.assistant.models.loaded else {}
        answer = Answer(self.question, self.lang, prompt.REFUSAL[self.lang], True, [], hits, timings, model, query, notices,
                        raw=raw, check=check or {}, refused_by=by)
        answer.passages = list(found)  # what the model read, for whoever studies the refusal
        if sizes:
            answer.privacy = sizes
        return answer


def _citation_counts(raw: str, checked: cite.Checked) -> dict:
    """How the model's own citations fared in the check."""
    return {
        "model_markers": len(cite.markers(raw)),
        "ok": sum(c.status == "ok" for c in checked.citations),
        "moved": sum(c.status == "moved" for c in checked.citations),
        "added": sum(c.status == "added" for c in checked.citations),
        "dropped": len(checked.dropped),
        "copied": checked.copied,  # markers the model copied out of a passage's text, ignored
    }
