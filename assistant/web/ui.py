"""`assistant ui`: the web page. ``build_app`` lays out the page and wires its handlers; ``launch`` serves it.

One Assistant (index and models, loaded once) serves every browser session.
Questions from all sessions wait in one Gradio queue and are answered one at a
time (the page shows each its place in the queue); uploads, deletions and
re-ingests have a queue of their own, so ingesting never holds up a question
(the index keeps its two halves consistent under a lock, see index.search).

Import this module only after ``privacy.contain`` (``cli.main`` calls it): it points
GRADIO_TEMP_DIR into the data folder, and Gradio reads it on import, so uploads never land in /tmp.
"""

from __future__ import annotations

import copy
import ipaddress
import logging
import queue
import sys
import threading
from dataclasses import replace
from pathlib import Path

import gradio as gr

from assistant.web import library
from assistant.web import views
from assistant.answer import Answer, Assistant
from assistant.privacy.report import privacy_report
from assistant.config import Settings
from assistant.llm.models import describe
from assistant.web.text import EXAMPLES, LANGS, TEXT, language
from index.errors import ConfigError, Error
from ingest.load import SUFFIXES

log = logging.getLogger("assistant.web.ui")

# System fonts only: Gradio's default theme would fetch web fonts. CJK faces are listed so
# Chinese renders with a real font wherever one is installed.
SANS = ("system-ui", "-apple-system", "Segoe UI", "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", "sans-serif")
MONO = ("ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "Noto Sans Mono CJK SC", "monospace")
# The browser itself refuses anything from another origin, whatever a document or a model writes.
HEAD = (
    '<meta http-equiv="Content-Security-Policy" content="default-src \'self\'; '
    "script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; media-src 'self' data: blob:; "
    "connect-src 'self'; worker-src 'self' blob:; frame-src 'self'\">"
)
UPLOAD_TYPES = sorted(SUFFIXES)
# Questions (and switching the model) run in this group, one at a time; the others wait, queued.
ONE_AT_A_TIME = {"concurrency_id": "questions", "concurrency_limit": 1}
# Uploads, deletions and re-ingests: their own queue, beside the questions'.
LIBRARY = {"concurrency_id": "library", "concurrency_limit": 1}


class Engine:
    """The Assistant that every session shares, and the answer model it uses."""

    def __init__(self, assistant: Assistant):
        self.assistant = assistant
        self._lock = threading.Lock()

    def for_question(self, temperature: float) -> Assistant:
        """A view with this session's temperature over the shared index and model."""
        with self._lock:
            base = self.assistant
            base.generator  # loaded here, once: a view that loaded it would keep it to itself
        view = copy.copy(base)
        view.settings = replace(base.settings, temperature=temperature)
        return view

    def page_image(self, citation: dict, passage) -> bytes | None:
        try:
            return library.page_image(self.assistant.index, citation, passage)
        except Exception:  # a picture that cannot be made must not cost the answer
            log.warning("could not render page %s of a cited PDF", citation.get("page"))
            return None

    def model_path(self) -> Path:
        return self.assistant.generator.model_path.resolve()

    def use_model(self, path: Path) -> None:
        """Answer with another GGUF from now on, for every session; a bad file leaves the current one."""
        with self._lock:
            if path.resolve() == self.model_path():
                return
            fresh = Assistant(replace(self.assistant.settings, model=path), progress=False)
            fresh.generator  # fails here, before the switch, if llama.cpp cannot load it
            self.assistant = fresh

    def models(self) -> list[Path]:
        """Every GGUF in the models folder, and the one in use wherever it lives."""
        found = sorted(p.resolve() for p in self.assistant.settings.models_dir.glob("*.gguf"))
        current = self.model_path()
        return found if current in found else [current, *found]


def _message(err: Exception) -> str:
    """One line for the page. Call inside ``except``: an unexpected error's traceback goes to the log."""
    if not isinstance(err, Error):
        log.exception("unexpected error in a page handler")
        return f"unexpected {type(err).__name__}: {err}".splitlines()[0]
    return str(err)


def build_app(assistant: Assistant) -> gr.Blocks:
    engine = Engine(assistant)
    settings = assistant.settings
    t = TEXT["zh"]

    with gr.Blocks(title="Private document assistant", analytics_enabled=False, delete_cache=(3600, 3600)) as app:
        with gr.Row(equal_height=True):
            with gr.Column(scale=4, min_width=300):  # on a phone the language switch wraps below
                title = gr.Markdown(t["title"])
            lang = gr.Radio(LANGS, value="zh", label="语言 / Language", scale=1, min_width=200, elem_id="lang")
        with gr.Tabs():
            with gr.Tab(t["tab_chat"], id="chat") as chat_tab:
                with gr.Row():
                    with gr.Column(scale=3, min_width=320):
                        chatbot = gr.Chatbot(
                            label=t["chat"], placeholder=t["chat_placeholder"], elem_id="chat", height=520,
                            buttons=["copy"], feedback_options=None, latex_delimiters=[], group_consecutive_messages=False,
                        )
                        question = gr.Textbox(label=t["question"], placeholder=t["question_placeholder"], elem_id="question", lines=1)
                        with gr.Row():
                            ask_btn = gr.Button(t["ask"], variant="primary", elem_id="ask")
                            clear_btn = gr.Button(t["clear"], elem_id="clear")
                        examples = gr.Examples(EXAMPLES, inputs=question, label=t["examples"])
                        chat_status = gr.Markdown(elem_id="chat-status")
                    with gr.Column(scale=2, min_width=280):
                        sources = gr.HTML(views.sources(None, "zh"), elem_id="sources")
            with gr.Tab(t["tab_library"], id="library") as library_tab:
                library_html = gr.HTML(elem_id="library")
                files = gr.File(label=t["upload"], file_count="multiple", file_types=UPLOAD_TYPES, elem_id="upload")
                upload_results = gr.HTML(elem_id="upload-results")
                with gr.Row(equal_height=True):
                    document = gr.Dropdown([], label=t["document"], elem_id="document", scale=3)
                    forget_btn = gr.Button(t["forget"], variant="stop", elem_id="forget", scale=1)
                    reingest_btn = gr.Button(t["reingest"], elem_id="reingest", scale=1)
                library_status = gr.Markdown(elem_id="library-status")
            with gr.Tab(t["tab_settings"], id="settings") as settings_tab:
                k = gr.Slider(1, 10, value=settings.k, step=1, label=t["k"], elem_id="k")
                temperature = gr.Slider(0, 1.5, value=settings.temperature, step=0.1, label=t["temperature"], elem_id="temperature")
                model = gr.Dropdown([], label=t["model"], elem_id="model")
                model_info = gr.Markdown(elem_id="model-info")
                model_note = gr.Markdown(t["model_note"])
            with gr.Tab(t["tab_privacy"], id="privacy") as privacy_tab:
                privacy_html = gr.HTML(elem_id="privacy")
                refresh_btn = gr.Button(t["refresh"], elem_id="refresh-privacy")
        history = gr.State([])  # the conversation as the model sees it: questions and checked answers
        last = gr.State(None)  # the last Answer, so the sources panel can be redrawn in another language
        privacy_timer = gr.Timer(5, active=False)  # ticks only while the privacy tab is open

        labels = {
            title: {"value": "title"}, chat_tab: {"label": "tab_chat"}, library_tab: {"label": "tab_library"},
            settings_tab: {"label": "tab_settings"}, privacy_tab: {"label": "tab_privacy"},
            chatbot: {"label": "chat", "placeholder": "chat_placeholder"},
            question: {"label": "question", "placeholder": "question_placeholder"},
            ask_btn: {"value": "ask"}, clear_btn: {"value": "clear"}, examples.dataset: {"label": "examples"},
            files: {"label": "upload"}, forget_btn: {"value": "forget"}, reingest_btn: {"value": "reingest"},
            k: {"label": "k"}, temperature: {"label": "temperature"}, model_note: {"value": "model_note"},
            refresh_btn: {"value": "refresh"},
        }

        # -- views ----------------------------------------------------------------------

        def library_view(lang: str) -> dict:
            rows = library.rows(engine.assistant.index)
            return {
                library_html: views.library(rows, lang),
                document: gr.Dropdown(choices=[(f"{r.title} ({r.source})", r.source) for r in rows], value=None, label=TEXT[lang]["document"]),
            }

        def model_view(lang: str) -> dict:
            info = describe(engine.model_path(), engine.assistant.settings.models_dir)
            return {
                model: gr.Dropdown(choices=[(p.name, str(p)) for p in engine.models()], value=str(info.path), label=TEXT[lang]["model"]),
                model_info: TEXT[lang]["model_info"].format(name=info.path.name, mb=info.size / 1e6, sha=info.sha256),
            }

        def privacy_view(lang: str) -> str:
            return views.privacy(privacy_report(engine.assistant.settings), lang)

        def render(lang: str, answer: Answer | None) -> dict:
            """Every label and panel of the page in ``lang``."""
            text = TEXT[lang]
            out = {c: gr.update(**{prop: text[key] for prop, key in spec.items()}) for c, spec in labels.items()}
            out[sources] = views.sources(answer, lang)
            out[privacy_html] = privacy_view(lang)
            return out | library_view(lang) | model_view(lang)

        page = [*labels, sources, privacy_html, library_html, document, model, model_info]

        # -- handlers -------------------------------------------------------------------

        def on_load(request: gr.Request) -> dict:
            chosen = language(request.headers.get("accept-language"))
            return {lang: chosen} | render(chosen, None)

        def ask(text: str, chat: list, turns: list, k_value: float, temp: float, lang_value: str):
            """Stream the model's tokens into the chat, then replace them with the checked, cited answer."""
            words = TEXT[lang_value]
            text = (text or "").strip()
            if not text:
                yield gr.skip(), chat, turns, gr.skip(), gr.skip(), words["empty_question"]
                return
            chat = [*chat, {"role": "user", "content": views.plain(text)},
                    {"role": "assistant", "content": f'<div class="pending">{words["thinking"]}</div>'}]
            yield "", chat, turns, gr.skip(), gr.skip(), ""
            tokens: queue.Queue[str | None] = queue.Queue()
            outcome: dict = {}

            def work() -> None:
                try:
                    view = engine.for_question(float(temp))
                    outcome["answer"] = view.ask(text, history=turns, on_token=tokens.put, k=int(k_value))
                except Exception as err:  # shown in the page; the worker thread must not die silently
                    outcome["error"] = _message(err)
                finally:
                    tokens.put(None)

            threading.Thread(target=work, name="ui-ask", daemon=True).start()
            streamed = ""
            while (piece := tokens.get()) is not None:
                streamed += piece
                chat[-1] = {"role": "assistant", "content": views.plain(streamed)}
                yield gr.skip(), chat, turns, gr.skip(), gr.skip(), gr.skip()
            if "error" in outcome:
                chat[-1] = {"role": "assistant", "content": views.error(outcome["error"], lang_value)}
                yield gr.skip(), chat, turns, gr.skip(), gr.skip(), f"{words['error']}: {outcome['error']}"
                return
            answer = outcome["answer"]
            chat[-1] = {"role": "assistant", "content": views.answer(answer, lang_value, engine.page_image)}
            turns = [*turns, {"role": "user", "content": text}, {"role": "assistant", "content": answer.text}]
            yield gr.skip(), chat, turns, answer, views.sources(answer, lang_value), ""

        def clear(lang_value: str):
            return [], [], None, views.sources(None, lang_value), ""

        def upload(paths: list[str] | None, lang_value: str, progress=gr.Progress()) -> dict:
            """Save each file under the uploads folder and ingest it; one line of outcome per file."""
            words = TEXT[lang_value]
            if not paths:
                return {upload_results: views.results([]), library_status: words["no_files"], files: None}
            folder = engine.assistant.settings.uploads_dir
            lines = []
            for i, name in enumerate(paths):
                src = Path(name)
                progress((i, len(paths)), desc=src.name)
                try:
                    saved = library.save_upload(src, folder, engine.assistant.index)
                    report = engine.assistant.ingest([saved])
                    lines.append((saved.name, _outcome(report, words)))
                except library.UploadRefused as err:
                    lines.append((src.name, words[err.key].format(**err.params)))
                except Exception as err:
                    lines.append((src.name, f"{words['error']}: {_message(err)}"))
                finally:
                    src.unlink(missing_ok=True)  # Gradio's temporary copy: the kept one is under uploads/
            return {upload_results: views.results(lines), library_status: "", files: None} | library_view(lang_value)

        def forget(source: str | None, lang_value: str) -> dict:
            words = TEXT[lang_value]
            if not source:
                return {library_status: words["no_document"]}
            try:
                if source not in engine.assistant.index.documents():  # e.g. another session forgot it first
                    return {library_status: words["not_in_library"].format(source=source)} | library_view(lang_value)
                n = engine.assistant.forget(source)
            except Exception as err:
                return {library_status: f"{words['error']}: {_message(err)}"}
            note = engine.assistant.index.store.files_note  # a Chroma server only its admin can compact
            message = words["forgot"].format(source=source, n=n) + (f" ({note})" if note else "")
            return {library_status: message} | library_view(lang_value)

        def reingest(lang_value: str) -> dict:
            words = TEXT[lang_value]
            try:
                report = engine.assistant.ingest(library.origins(engine.assistant.index))
            except Exception as err:
                return {library_status: f"{words['error']}: {_message(err)}"}
            return {library_status: f"{words['reingested']} {report.summary()}", upload_results: views.results(_per_file(report, words))} | library_view(lang_value)

        def choose_model(path: str, lang_value: str) -> dict:
            words = TEXT[lang_value]
            try:
                engine.use_model(Path(path))
            except Exception as err:
                return model_view(lang_value) | {model_info: f"{words['error']}: {_message(err)}"}
            return model_view(lang_value)

        # -- wiring ---------------------------------------------------------------------

        def wire(event, fn, inputs, outputs, name: str, **kw) -> None:
            # Named so tests can find the handlers in app.fns; private: the page is the only client.
            event(fn, inputs, outputs, api_name=name, api_visibility="private", **kw)

        def timer(active: bool):
            return lambda: gr.Timer(active=active)

        chat_outputs = [question, chatbot, history, last, sources, chat_status]
        cleared = [chatbot, history, last, sources, chat_status]
        wire(app.load, on_load, None, [lang, *page], "load")
        wire(lang.input, render, [lang, last], page, "render")
        for event in (ask_btn.click, question.submit):
            wire(event, ask, [question, chatbot, history, k, temperature, lang], chat_outputs, "ask", **ONE_AT_A_TIME)
        for event in (clear_btn.click, chatbot.clear):
            wire(event, clear, [lang], cleared, "clear")
        wire(library_tab.select, library_view, [lang], [library_html, document], "library")
        wire(files.upload, upload, [files, lang], [upload_results, library_status, files, library_html, document], "upload", **LIBRARY)
        wire(forget_btn.click, forget, [document, lang], [library_status, library_html, document], "forget", **LIBRARY)
        wire(reingest_btn.click, reingest, [lang], [library_status, upload_results, library_html, document], "reingest", **LIBRARY)
        wire(model.input, choose_model, [model, lang], [model, model_info], "model", **ONE_AT_A_TIME)
        for event in (refresh_btn.click, privacy_timer.tick, privacy_tab.select):
            wire(event, privacy_view, [lang], [privacy_html], "privacy")
        wire(privacy_tab.select, timer(True), None, [privacy_timer], "timer_on")
        for other in (chat_tab, library_tab, settings_tab):
            wire(other.select, timer(False), None, [privacy_timer], "timer_off")
    return app


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


# -- serving ---------------------------------------------------------------------------


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def credentials(host: str, auth: str | None) -> tuple[str, str] | None:
    """``--auth user:password`` as Gradio takes it; required when the page is reachable from other machines."""
    pair = None
    if auth is not None:
        user, sep, password = auth.partition(":")
        if not (sep and user and password):
            raise ConfigError("--auth must be user:password, both non-empty")
        pair = (user, password)
    if not _loopback(host):
        if pair is None:
            raise ConfigError(f"--host {host} makes the page reachable from other machines: add --auth user:password")
        print(
            f"warning: listening on {host}: anyone who can reach this machine can log in with the password "
            "and read your documents; the connection is not encrypted",
            file=sys.stderr,
        )
    return pair


def launch(app: gr.Blocks, *, host: str = "127.0.0.1", port: int = 7860, auth: tuple[str, str] | None = None) -> None:
    """Serve until Ctrl-C. Never ``share``: no tunnel, no analytics, no run history kept in the browser."""
    theme = gr.themes.Default(font=SANS, font_mono=MONO)
    try:
        app.launch(
            server_name=host, server_port=port, auth=auth, share=False, prevent_thread_lock=True, quiet=True,
            theme=theme, css=views.CSS, head=HEAD, footer_links=[], run_history=False, ssr_mode=False,
            pwa=False, mcp_server=False, enable_monitoring=False, show_error=False,
            max_file_size=library.UPLOAD_LIMIT,
        )
    except OSError:  # Gradio says only that it found no free port in the range it was given
        raise Error(f"cannot listen on {host}:{port}: is another program using it? choose another with --port") from None
    shown = f"[{host}]" if ":" in host else host
    print(f"assistant ui: http://{shown}:{port}  (Ctrl-C stops it)", file=sys.stderr, flush=True)
    app.block_thread()


def serve(settings: Settings, *, host: str, port: int, auth: str | None) -> int:
    """Check the address, load the index and models once, then serve the page."""
    pair = credentials(host, auth)
    assistant = Assistant(settings)
    assistant.model_path()  # a bad --model fails now, before any ingest work
    report = assistant.ensure_ingested()
    if report is not None:
        print(f"indexed the corpus: {report.summary()}", file=sys.stderr)
    assistant.generator  # the first question should not wait for the model to load
    assistant.index.warm()
    launch(build_app(assistant), host=host, port=port, auth=pair)
    return 0
