"""`assistant ui`: the web page. ``build_app`` lays out the page and wires its handlers; ``launch`` serves it.

One Assistant (index and models, loaded once) serves every browser session.
Questions from all sessions wait in one Gradio queue and are answered one at a
time (the page shows each its place in the queue); uploads, deletions and
re-ingests have a queue of their own, so ingesting never holds up a question
(the index keeps its two halves consistent under a lock, see index.search).

The page is in three parts: layout.py (the components), handlers.py (what each
event does), and the wiring below (which event calls which handler, in which queue).

Import this module only after ``privacy.contain`` (``cli.main`` calls it): it points
GRADIO_TEMP_DIR into the data folder, and Gradio reads it on import, so uploads never land in /tmp.
"""

from __future__ import annotations

import hmac
import sys

import gradio as gr

from assistant import keys, servers
from assistant.answer import Assistant
from assistant.config import DEFAULT_KB, ConfigError, Settings
from assistant.web import layout, library, views
from assistant.web.engine import Engine
from assistant.web.handlers import Handlers
from index.errors import Error

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
# Questions (and switching the model) run in this group, one at a time; the others wait, queued.
ONE_AT_A_TIME = {"concurrency_id": "questions", "concurrency_limit": 1}
# Uploads, deletions and re-ingests: their own queue, beside the questions'.
LIBRARY = {"concurrency_id": "library", "concurrency_limit": 1}


def build_app(assistant: Assistant, engine: Engine | None = None) -> gr.Blocks:
    """The page over ``engine`` (shared with the API), or over one made for ``assistant``."""
    with gr.Blocks(title="Private document assistant", analytics_enabled=False, delete_cache=(3600, 3600)) as app:
        page = layout.build(assistant.settings)
        wire(app, page, Handlers(engine or Engine(assistant), page))
    return app


# -- wiring ----------------------------------------------------------------------------


def _on(event, fn, inputs, outputs, name: str, **kw) -> None:
    # Named so tests can find the handlers in app.fns; private: the page is the only client.
    event(fn, inputs, outputs, api_name=name, api_visibility="private", **kw)


def _timer(active: bool):
    return lambda: gr.Timer(active=active)


def wire(app: gr.Blocks, p: layout.Page, h: Handlers) -> None:
    """Connect each event of the page ``p`` to its handler in ``h``; call inside ``app``'s ``with``."""
    everything = p.everything()
    chat_outputs = [p.question, p.chatbot, p.history, p.last, p.sources, p.chat_status]
    cleared = [p.chatbot, p.history, p.last, p.sources, p.chat_status]
    library = [p.library_html, p.document, p.scope]
    _on(app.load, h.on_load, None, [p.lang, *everything], "load")
    _on(p.lang.input, h.render, [p.lang, p.last, p.kb], everything, "render")
    for event in (p.ask_btn.click, p.question.submit):
        _on(event, h.ask, [p.question, p.chatbot, p.history, p.k, p.temperature, p.lang, p.kb, p.scope], chat_outputs, "ask",
            **ONE_AT_A_TIME)
    for event in (p.clear_btn.click, p.chatbot.clear):
        _on(event, h.clear, [p.lang], cleared, "clear")
    _on(p.kb.input, h.choose_kb, [p.kb, p.lang], [*cleared, *library], "kb")
    _on(p.library_tab.select, h.library_view, [p.lang, p.kb], library, "library")
    _on(p.files.upload, h.upload, [p.files, p.lang, p.kb], [p.upload_results, p.library_status, p.files, *library], "upload", **LIBRARY)
    _on(p.forget_btn.click, h.forget, [p.document, p.lang, p.kb], [p.library_status, *library], "forget", **LIBRARY)
    _on(p.reingest_btn.click, h.reingest, [p.lang, p.kb], [p.library_status, p.upload_results, *library], "reingest", **LIBRARY)
    _on(p.model.input, h.choose_model, [p.model, p.lang], [p.model, p.model_info], "model", **ONE_AT_A_TIME)
    for event in (p.refresh_btn.click, p.privacy_timer.tick, p.privacy_tab.select):
        _on(event, h.privacy_view, [p.lang], [p.privacy_html], "privacy")
    _on(p.privacy_tab.select, _timer(True), None, [p.privacy_timer], "timer_on")
    for other in (p.chat_tab, p.library_tab, p.settings_tab):
        _on(other.select, _timer(False), None, [p.privacy_timer], "timer_off")


# -- serving ---------------------------------------------------------------------------


def credentials(host: str, auth: str | None, *, with_keys: bool = False) -> tuple[str, str] | None:
    """``--auth user:password`` as a pair; a login is required when the page is reachable from other
    machines: that pair, or the API keys' (``with_keys``)."""
    pair = None
    if auth is not None:
        user, sep, password = auth.partition(":")
        if not (sep and user and password):
            raise ConfigError("--auth must be user:password, both non-empty")
        pair = (user, password)
    if not servers.loopback(host):
        if pair is None and not with_keys:
            raise ConfigError(f"--host {host} makes the page reachable from other machines: add --auth user:password "
                              "(or make API keys, whose names and keys become the logins: assistant api-key create)")
        print(
            f"warning: listening on {host}: anyone who can reach this machine can log in with the password "
            "and read your documents; the connection is not encrypted",
            file=sys.stderr,
        )
    return pair


def logins(settings: Settings, pair: tuple[str, str] | None):
    """Gradio's login check when API keys exist: a key's name and the key (that user then sees
    only its knowledge bases), or the --auth pair (who sees every one)."""

    def check(user: str, password: str) -> bool:
        if pair is not None and hmac.compare_digest(user, pair[0]) & hmac.compare_digest(password, pair[1]):
            return True
        return keys.login(keys.load(settings), user, password) is not None

    return check


def key_of(settings: Settings):
    """A logged-in user's API key (None for the --auth login), for the Engine to limit what they see."""
    return lambda user: next((k for k in keys.load(settings) if k.name == user), None)


def launch(app: gr.Blocks, *, host: str = "127.0.0.1", port: int = 7860, auth=None) -> None:
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
    print(f"assistant ui: http://{servers.bracketed(host)}:{port}  (Ctrl-C stops it)", file=sys.stderr, flush=True)
    app.block_thread()


def serve(settings: Settings, *, host: str, port: int, auth: str | None, beside=None) -> int:
    """Check the address, load the index and models once, then serve the page; ``beside(engine)``,
    when given, starts what shares the page's Engine (the API, in `assistant serve`)."""
    with_keys = bool(keys.load(settings))
    pair = credentials(host, auth, with_keys=with_keys)
    assistant = Assistant(settings)
    assistant.model_path()  # a bad --model fails now, before any ingest work
    # The default knowledge base starts with the bundled corpus; another may start empty (the page uploads into it).
    report = assistant.ensure_ingested() if assistant.index.count() or settings.kb == DEFAULT_KB else None
    if report is not None:
        print(f"indexed the corpus: {report.summary()}", file=sys.stderr)
    assistant.generator  # the first question should not wait for the model to load
    assistant.index.warm()
    engine = Engine(assistant, logins=key_of(settings) if with_keys else None)
    if beside is not None:
        beside(engine)
    if with_keys:
        print("the page asks for a login: the name of an API key and the key (assistant api-key list shows the names)",
              file=sys.stderr)
    launch(build_app(assistant, engine), host=host, port=port, auth=logins(settings, pair) if with_keys else pair)
    return 0
