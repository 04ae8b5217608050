"""The web page's layout: every component, with its Chinese labels; ``Page`` holds them for the handlers.

Nothing here reacts to anything: handlers.py fills the components, ui.py connects their events.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from assistant.config import Settings
from assistant.web import views
from assistant.web.text import EXAMPLES, LANGS, TEXT
from ingest.load import SUFFIXES

UPLOAD_TYPES = sorted(SUFFIXES)


@dataclass
class Page:
    """The components of one page, by what they are for."""

    title: gr.Markdown
    lang: gr.Radio
    # chat tab
    chat_tab: gr.Tab
    kb: gr.Dropdown  # which knowledge base this session asks and manages (the library tab follows it)
    scope: gr.Dropdown  # documents of that knowledge base to answer from; none chosen = all
    chatbot: gr.Chatbot
    question: gr.Textbox
    ask_btn: gr.Button
    clear_btn: gr.Button
    examples: gr.Examples
    chat_status: gr.Markdown
    sources: gr.HTML
    # library tab
    library_tab: gr.Tab
    library_html: gr.HTML
    files: gr.File
    upload_results: gr.HTML
    document: gr.Dropdown
    forget_btn: gr.Button
    reingest_btn: gr.Button
    library_status: gr.Markdown
    # settings tab
    settings_tab: gr.Tab
    k: gr.Slider
    temperature: gr.Slider
    model: gr.Dropdown
    model_info: gr.Markdown
    model_note: gr.Markdown
    # privacy tab
    privacy_tab: gr.Tab
    privacy_html: gr.HTML
    refresh_btn: gr.Button
    # per session
    history: gr.State
    last: gr.State
    privacy_timer: gr.Timer

    def labels(self) -> dict:
        """Which property of which component shows which TEXT key: what switching the language rewrites."""
        return {
            self.title: {"value": "title"}, self.chat_tab: {"label": "tab_chat"}, self.library_tab: {"label": "tab_library"},
            self.settings_tab: {"label": "tab_settings"}, self.privacy_tab: {"label": "tab_privacy"},
            self.chatbot: {"label": "chat", "placeholder": "chat_placeholder"},
            self.question: {"label": "question", "placeholder": "question_placeholder"},
            self.ask_btn: {"value": "ask"}, self.clear_btn: {"value": "clear"}, self.examples.dataset: {"label": "examples"},
            self.files: {"label": "upload"}, self.forget_btn: {"value": "forget"}, self.reingest_btn: {"value": "reingest"},
            self.k: {"label": "k"}, self.temperature: {"label": "temperature"}, self.model_note: {"value": "model_note"},
            self.refresh_btn: {"value": "refresh"}, self.kb: {"label": "kb"}, self.scope: {"label": "scope"},
        }

    def everything(self) -> list:
        """The components that ``Handlers.render`` redraws, in its order."""
        return [*self.labels(), self.sources, self.privacy_html, self.library_html, self.document, self.model, self.model_info]


def build(settings: Settings) -> Page:
    """Lay out the page inside the open ``gr.Blocks``, in Chinese until the browser's language is known."""
    t = TEXT["zh"]
    with gr.Row(equal_height=True):
        with gr.Column(scale=4, min_width=300):  # on a phone the language switch wraps below
            title = gr.Markdown(t["title"])
        lang = gr.Radio(LANGS, value="zh", label="语言 / Language", scale=1, min_width=200, elem_id="lang")
    with gr.Tabs():
        chat = _chat_tab(t)
        library = _library_tab(t)
        settings_part = _settings_tab(t, settings)
        privacy = _privacy_tab(t)
    history = gr.State([])  # the conversation as the model sees it: questions and checked answers
    last = gr.State(None)  # the last Answer, so the sources panel can be redrawn in another language
    privacy_timer = gr.Timer(5, active=False)  # ticks only while the privacy tab is open
    return Page(title=title, lang=lang, **chat, **library, **settings_part, **privacy,
                history=history, last=last, privacy_timer=privacy_timer)


def _chat_tab(t: dict) -> dict:
    with gr.Tab(t["tab_chat"], id="chat") as chat_tab:
        with gr.Row():
            with gr.Column(scale=3, min_width=320):
                with gr.Row(equal_height=True):
                    kb = gr.Dropdown([], label=t["kb"], elem_id="kb", scale=1, min_width=160)
                    scope = gr.Dropdown([], multiselect=True, label=t["scope"], elem_id="scope", scale=3)
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
    return dict(chat_tab=chat_tab, kb=kb, scope=scope, chatbot=chatbot, question=question, ask_btn=ask_btn, clear_btn=clear_btn,
                examples=examples, chat_status=chat_status, sources=sources)


def _library_tab(t: dict) -> dict:
    with gr.Tab(t["tab_library"], id="library") as library_tab:
        library_html = gr.HTML(elem_id="library")
        files = gr.File(label=t["upload"], file_count="multiple", file_types=UPLOAD_TYPES, elem_id="upload")
        upload_results = gr.HTML(elem_id="upload-results")
        with gr.Row(equal_height=True):
            document = gr.Dropdown([], label=t["document"], elem_id="document", scale=3)
            forget_btn = gr.Button(t["forget"], variant="stop", elem_id="forget", scale=1)
            reingest_btn = gr.Button(t["reingest"], elem_id="reingest", scale=1)
        library_status = gr.Markdown(elem_id="library-status")
    return dict(library_tab=library_tab, library_html=library_html, files=files, upload_results=upload_results,
                document=document, forget_btn=forget_btn, reingest_btn=reingest_btn, library_status=library_status)


def _settings_tab(t: dict, settings: Settings) -> dict:
    with gr.Tab(t["tab_settings"], id="settings") as settings_tab:
        k = gr.Slider(1, 10, value=settings.k, step=1, label=t["k"], elem_id="k")
        temperature = gr.Slider(0, 1.5, value=settings.temperature, step=0.1, label=t["temperature"], elem_id="temperature")
        model = gr.Dropdown([], label=t["model"], elem_id="model")
        model_info = gr.Markdown(elem_id="model-info")
        model_note = gr.Markdown(t["model_note"])
    return dict(settings_tab=settings_tab, k=k, temperature=temperature, model=model, model_info=model_info, model_note=model_note)


def _privacy_tab(t: dict) -> dict:
    with gr.Tab(t["tab_privacy"], id="privacy") as privacy_tab:
        privacy_html = gr.HTML(elem_id="privacy")
        refresh_btn = gr.Button(t["refresh"], elem_id="refresh-privacy")
    return dict(privacy_tab=privacy_tab, privacy_html=privacy_html, refresh_btn=refresh_btn)
