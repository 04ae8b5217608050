"""What the page does: each handler takes the values of its inputs and returns updates of its outputs.

They are plain methods, callable without a browser or a Gradio event (tests/test_ui.py calls
them so); ui.py decides which event calls which. Errors end up in the page, never raised.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from pathlib import Path

import gradio as gr

from assistant.llm.models import describe
from assistant.privacy.report import privacy_report
from assistant.result import Answer
from assistant.web import library, views
from assistant.web.engine import Engine
from assistant.web.layout import Page
from assistant.web.text import TEXT, language
from index.errors import Error

log = logging.getLogger("assistant.web.ui")


def _message(err: Exception) -> str:
    """One line for the page. Call inside ``except``: an unexpected error's traceback goes to the log."""
    if not isinstance(err, Error):
        log.exception("unexpected error in a page handler")
        return f"unexpected {type(err).__name__}: {err}".splitlines()[0]
    return str(err)


def _outcome(report, words: dict) -> str:
    """What ingesting one saved upload did, from its Report."""
    if report.skipped:
        return f"{words['skipped']}: {report.skipped[0][1]}"
    if report.added or report.replaced:
        kind = "added" if report.added else "replaced"
        return f"{words[kind]}: {words['chunks_n'].format(n=report.chunks_added)}"
    return words["unchanged"]


def _per_file(report, words: dict) -> list[tuple[str, str]]:
    lines = [(s, words[kind]) for kind in ("added", "replaced", "removed") for s in getattr(report, kind)]
    return lines + [(path, f"{words['skipped']}: {why}") for path, why in report.skipped]


def _user(request: gr.Request | None) -> str | None:
    return getattr(request, "username", None)


def _tokens(engine: Engine, text: str, turns: list, k_value: float, temp: float, outcome: dict, kb: str | None = None,
            scope: list | None = None, user: str | None = None) -> Iterator[tuple[str, str]]:
    """("preview", quotes) once the passages are found, then ("token", text) as the model
    writes; once they stop, ``outcome`` holds "answer" or "error".

    The question is answered on a worker thread that hands each piece over a queue, so the
    handler can yield the chat as it grows; the thread starts at the first ``next``.
    """
    tokens: queue.Queue[tuple[str, str] | None] = queue.Queue()

    def work() -> None:
        try:
            view = engine.for_question(float(temp), kb, user)
            sources = view.scope(sources=scope) if scope else None  # a document forgotten since is an error, said in the page
            with engine.answering:
                outcome["answer"] = view.ask(text, history=turns, k=int(k_value), on_token=lambda t: tokens.put(("token", t)),
                                             on_preview=lambda quotes, _lang: tokens.put(("preview", quotes)), sources=sources)
        except Exception as err:  # shown in the page; the worker thread must not die silently
            outcome["error"] = _message(err)
        finally:
            tokens.put(None)

    threading.Thread(target=work, name="ui-ask", daemon=True).start()
    while (piece := tokens.get()) is not None:
        yield piece


class Handlers:
    """The page's handlers over the shared Engine; dict results are keyed by the Page's components."""

    def __init__(self, engine: Engine, page: Page):
        self.engine = engine
        self.page = page

    # -- views ------------------------------------------------------------------------

    def library_view(self, lang: str, kb: str | None = None, request: gr.Request = None, *, new_scope: bool = False) -> dict:
        """The library of the knowledge base ``kb``, and its documents as choices to forget and to answer
        from (``new_scope``: none chosen, as for another knowledge base)."""
        rows = library.rows(self.engine.of(kb, _user(request)).index)
        choices = [(f"{r.title} ({r.source})", r.source) for r in rows]
        return {
            self.page.library_html: views.library(rows, lang),
            self.page.document: gr.Dropdown(choices=choices, value=None, label=TEXT[lang]["document"]),
            self.page.scope: gr.Dropdown(choices=choices, label=TEXT[lang]["scope"], multiselect=True,
                                         **({"value": []} if new_scope else {})),
        }

    def _kb_choice(self, kb: str | None, request) -> tuple[list[str], str | None]:
        """The knowledge bases this login reaches, and ``kb`` if among them, else the page's first one."""
        names = self.engine.kb_names(_user(request))
        first = self.engine.assistant.settings.kb
        return names, kb if kb in names else first if first in names else names[0] if names else None

    def kb_view(self, lang: str, kb: str | None, request: gr.Request = None) -> dict:
        names, chosen = self._kb_choice(kb, request)
        return {self.page.kb: gr.Dropdown(choices=names, value=chosen, label=TEXT[lang]["kb"])}

    def choose_kb(self, kb: str, lang: str, request: gr.Request = None) -> dict:
        """Another knowledge base: a new conversation, its library, its documents to scope to."""
        page = self.page
        cleared = {page.chatbot: [], page.history: [], page.last: None, page.sources: views.sources(None, lang), page.chat_status: ""}
        try:
            return cleared | self.library_view(lang, kb, request, new_scope=True)
        except Exception as err:
            return cleared | {page.chat_status: f"{TEXT[lang]['error']}: {_message(err)}"}

    def model_view(self, lang: str) -> dict:
        engine = self.engine
        info = describe(engine.model_path(), engine.assistant.settings.models_dir)
        choices = [(p.name, str(p)) for p in engine.models()]
        return {
            self.page.model: gr.Dropdown(choices=choices, value=str(info.path), label=TEXT[lang]["model"]),
            self.page.model_info: TEXT[lang]["model_info"].format(name=info.path.name, mb=info.size / 1e6, sha=info.sha256),
        }

    def privacy_view(self, lang: str) -> str:
        return views.privacy(privacy_report(self.engine.assistant.settings), lang)

    def render(self, lang: str, answer: Answer | None, kb: str | None = None, request: gr.Request = None) -> dict:
        """Every label and panel of the page in ``lang``: the outputs are ``Page.everything()``."""
        text = TEXT[lang]
        out = {c: gr.update(**{prop: text[key] for prop, key in spec.items()}) for c, spec in self.page.labels().items()}
        out[self.page.sources] = views.sources(answer, lang)
        out[self.page.privacy_html] = self.privacy_view(lang)
        return out | self.library_view(lang, kb, request) | self.model_view(lang)

    # -- chat -------------------------------------------------------------------------

    def on_load(self, request: gr.Request) -> dict:
        chosen = language(request.headers.get("accept-language"))
        _, kb = self._kb_choice(None, request)
        return {self.page.lang: chosen} | self.render(chosen, None, kb, request) | self.kb_view(chosen, kb, request)

    def ask(self, text: str, chat: list, turns: list, k_value: float, temp: float, lang_value: str, kb: str | None = None,
            scope: list | None = None, request: gr.Request = None):
        """Quotes from the documents, then the model's tokens, into the chat; then the checked, cited answer in their place.

        Yields (question box, chat, history, last answer, sources panel, status).
        """
        words = TEXT[lang_value]
        text = (text or "").strip()
        if not text:
            yield gr.skip(), chat, turns, gr.skip(), gr.skip(), words["empty_question"]
            return
        chat = [*chat, {"role": "user", "content": views.plain(text)},
                {"role": "assistant", "content": f'<div class="pending">{words["thinking"]}</div>'}]
        yield "", chat, turns, gr.skip(), gr.skip(), ""
        outcome: dict = {}
        shown = {"preview": "", "token": ""}
        for kind, piece in _tokens(self.engine, text, turns, k_value, temp, outcome, kb, scope, _user(request)):
            shown[kind] += piece
            chat[-1] = {"role": "assistant", "content": views.streaming(shown["preview"], shown["token"], lang_value)}
            yield gr.skip(), chat, turns, gr.skip(), gr.skip(), gr.skip()
        if "error" in outcome:
            chat[-1] = {"role": "assistant", "content": views.error(outcome["error"], lang_value)}
            yield gr.skip(), chat, turns, gr.skip(), gr.skip(), f"{words['error']}: {outcome['error']}"
            return
        answer = outcome["answer"]
        image = lambda citation, passage: self.engine.page_image(citation, passage, kb)  # noqa: E731
        chat[-1] = {"role": "assistant", "content": views.answer(answer, lang_value, image)}
        turns = [*turns, {"role": "user", "content": text}, {"role": "assistant", "content": answer.text}]
        yield gr.skip(), chat, turns, answer, views.sources(answer, lang_value), ""

    def clear(self, lang_value: str):
        return [], [], None, views.sources(None, lang_value), ""

    # -- library ----------------------------------------------------------------------

    def upload(self, paths: list[str] | None, lang_value: str, kb: str | None = None, request: gr.Request = None,
               progress=gr.Progress()) -> dict:
        """Save each file under the uploads folder of the knowledge base and ingest it; one line of outcome per file."""
        words, page = TEXT[lang_value], self.page
        if not paths:
            return {page.upload_results: views.results([]), page.library_status: words["no_files"], page.files: None}
        try:
            assistant = self.engine.of(kb, _user(request), write=True)
        except Exception as err:
            return {page.library_status: f"{words['error']}: {_message(err)}", page.files: None}
        folder = assistant.settings.uploads_dir
        lines = []
        for i, name in enumerate(paths):
            src = Path(name)
            progress((i, len(paths)), desc=src.name)
            try:
                saved = library.save_upload(src, folder, assistant.index)
                report = assistant.ingest([saved])
                lines.append((saved.name, _outcome(report, words)))
            except library.UploadRefused as err:
                lines.append((src.name, words[err.key].format(**err.params)))
            except Exception as err:
                lines.append((src.name, f"{words['error']}: {_message(err)}"))
            finally:
                src.unlink(missing_ok=True)  # Gradio's temporary copy: the kept one is under uploads/
        return {page.upload_results: views.results(lines), page.library_status: "", page.files: None} | self.library_view(lang_value, kb, request)

    def forget(self, source: str | None, lang_value: str, kb: str | None = None, request: gr.Request = None) -> dict:
        words, status = TEXT[lang_value], self.page.library_status
        if not source:
            return {status: words["no_document"]}
        try:
            assistant = self.engine.of(kb, _user(request), write=True)
            if source not in assistant.index.documents():  # e.g. another session forgot it first
                return {status: words["not_in_library"].format(source=source)} | self.library_view(lang_value, kb, request)
            n = assistant.forget(source)
        except Exception as err:
            return {status: f"{words['error']}: {_message(err)}"}
        note = assistant.index.store.files_note  # a Chroma server only its admin can compact
        message = words["forgot"].format(source=source, n=n) + (f" ({note})" if note else "")
        return {status: message} | self.library_view(lang_value, kb, request)

    def reingest(self, lang_value: str, kb: str | None = None, request: gr.Request = None) -> dict:
        words, page = TEXT[lang_value], self.page
        try:
            assistant = self.engine.of(kb, _user(request), write=True)
            report = assistant.ingest(library.origins(assistant.index))
        except Exception as err:
            return {page.library_status: f"{words['error']}: {_message(err)}"}
        done = {page.library_status: f"{words['reingested']} {report.summary()}", page.upload_results: views.results(_per_file(report, words))}
        return done | self.library_view(lang_value, kb, request)

    # -- settings ---------------------------------------------------------------------

    def choose_model(self, path: str, lang_value: str, request: gr.Request = None) -> dict:
        words = TEXT[lang_value]
        try:
            self.engine.use_model(Path(path), _user(request))
        except Exception as err:
            return self.model_view(lang_value) | {self.page.model_info: f"{words['error']}: {_message(err)}"}
        return self.model_view(lang_value)
