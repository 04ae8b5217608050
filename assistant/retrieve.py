"""From a question to the passages the model will read: the follow-up rewrite, the
translation of an English question for BM25, the search, and fitting the prompt."""

from __future__ import annotations

import time
from dataclasses import dataclass

from assistant import prompt
from assistant.config import Settings
from index.errors import Error
from index.search import Fusion, Index
from index.types import Hit


@dataclass(frozen=True)
class Retrieval:
    query: str  # what was searched: the question, or a follow-up rewritten to stand alone
    hits: list[Hit]
    rewrite_ms: float  # time the model spent rewriting or translating the question
    retrieve_ms: float
    prompt_bytes: int = 0  # text given to the model for the rewrite or translation


def prompt_bytes(messages: list[dict]) -> int:
    return sum(len(m["content"].encode("utf-8")) for m in messages)


class Retriever:
    def __init__(self, settings: Settings, index: Index, models):
        self.settings = settings
        self.index = index
        self.models = models  # assistant.llm.slot.ModelSlot: the rewrite and the token counts use its model
        self.fusion = Fusion(dense=settings.dense_weight, lexical=settings.lexical_weight)

    def _complete(self, messages: list[dict], max_tokens: int) -> tuple[str, int]:
        """The model's short reply to a side task, and the bytes of prompt it read."""
        generator = self.models.generator
        if generator.count_tokens(messages) + max_tokens > generator.n_ctx:
            return "", 0  # e.g. a long conversation to rewrite: the caller searches with the question as asked
        text = "".join(generator.stream(messages, max_tokens=max_tokens, temperature=0.0, aside=True)).strip()
        return text, prompt_bytes(messages)

    def search_query(self, question: str, lang: str, history: list[dict] | None) -> tuple[str, str | None, int]:
        """The question as retrieval should see it, words to add to the lexical side, and the
        bytes of prompt that took.

        A follow-up ("它的缺点呢？") is rewritten into a standalone question; an
        English question gets a Chinese translation for BM25, which matches words, not meanings.
        """
        query, sent = question, 0
        if history:
            rewritten, sent = self._complete(prompt.rewrite_messages(question, history, lang), 96)
            query = rewritten or question
        expansion = None
        if lang != "zh":
            expansion, n = self._complete(prompt.translate_messages(query), 96)
            sent += n
        return query, expansion, sent

    def retrieve(self, question: prompt.Question, *, history: list[dict] | None = None, k: int | None = None,
                 sources: frozenset[str] | None = None) -> Retrieval:
        """The passages for a question, of the documents ``sources`` only when given (assistant.scope)."""
        t0 = time.perf_counter()
        query, expansion, sent = self.search_query(question.text, question.lang, history)
        self.index.warm()  # model and dictionary loading is start-up, not retrieval time
        t1 = time.perf_counter()
        hits = self.index.search(query, k or self.settings.k, self.fusion, expand=(lambda _: expansion) if expansion else None,
                                 sources=sources)
        t2 = time.perf_counter()
        return Retrieval(query, hits, round((t1 - t0) * 1000, 1), round((t2 - t1) * 1000, 1), sent)

    def fit(self, question: str, found: list[prompt.Passage], lang: str, history: list[dict]):
        """Messages that fit the context window with room for the answer; say what had to go."""
        budget = self.settings.n_ctx - self.settings.max_tokens
        count = self.models.generator.count_tokens
        notices: list[str] = []
        history, found = list(history), list(found)
        while True:
            messages = prompt.build_messages(question, found, lang, history)
            if count(messages) <= budget:
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

    def prepare(self, raw: str) -> tuple[prompt.Question, list[str]]:
        """The question without control characters, cut to at most a quarter of the room
        for the prompt (a question longer than that is a pasted document), and what was done."""
        q = prompt.Question.read(raw)
        if not q.has_words:
            return q, []
        question = q.text
        limit = (self.settings.n_ctx - self.settings.max_tokens) // 4
        count = self.models.generator.count_tokens
        total = len(question)
        n = count([{"role": "user", "content": question}])
        while n > limit and len(question) > 1:
            question = question[: max(1, int(len(question) * limit / n * 0.95))]
            n = count([{"role": "user", "content": question}])
        if len(question) < total:
            return prompt.Question.read(question), [f"the question was cut to its first {len(question)} of {total} characters to fit the context window"]
        return q, []
