"""The Assistants (index and models, loaded once) that every browser session and API request
shares: one per knowledge base, all with the same answer model and embedder."""

from __future__ import annotations

import copy
import logging
import threading
from dataclasses import replace
from pathlib import Path

from assistant import kb
from assistant.answer import Assistant
from assistant.keys import NotAllowed
from assistant.web import library

log = logging.getLogger("assistant.web.ui")


class Engine:
    """The Assistant of each knowledge base, and the answer model they share.

    ``assistant`` is the one the page opens with (the configured kb); others are opened
    when a session first chooses them. ``logins``, when given, maps a logged-in user to
    their API key (assistant.keys): a user sees only the knowledge bases it reaches, and
    changes none with a read-only key; a user without a key (the --auth login) sees all.
    ``answering`` is held while a question is answered: the page and the API share one model."""

    def __init__(self, assistant: Assistant, logins=None):
        self.assistant = assistant
        self.logins = logins
        self.answering = threading.Lock()
        self._kbs = {assistant.settings.kb: assistant}
        self._lock = threading.Lock()

    def _key(self, user: str | None):
        return self.logins(user) if self.logins is not None and user is not None else None

    def kb_names(self, user: str | None = None) -> list[str]:
        names = kb.names(self.assistant.settings)
        key = self._key(user)
        return names if key is None else [n for n in names if key.reaches(n)]

    def of(self, name: str | None, user: str | None = None, *, write: bool = False) -> Assistant:
        """The Assistant of the knowledge base ``name`` (None: the page's first one), if ``user`` may
        see it (and change it: ``write``)."""
        key = self._key(user)
        if not name:
            name = self.assistant.settings.kb
            if key is not None and not key.reaches(name):
                name = next(iter(self.kb_names(user)), name)
        if key is not None:
            key.allow(name, write=write)
        with self._lock:
            if name not in self._kbs:
                settings = kb.of(self.assistant.settings, name)
                kb.require(settings)
                self._kbs[name] = Assistant(settings, progress=False, models=self.assistant.models, embedder=self.assistant.embedder)
            return self._kbs[name]

    def for_question(self, temperature: float, name: str | None = None, user: str | None = None) -> Assistant:
        """A view with this session's temperature over the shared index and model."""
        base = self.of(name, user)
        with self._lock:
            base.generator  # loaded here, once: a view that loaded it would keep it to itself
        view = copy.copy(base)
        view.settings = replace(base.settings, temperature=temperature)
        return view

    def page_image(self, citation: dict, passage, name: str | None = None) -> bytes | None:
        """The cited PDF page of the knowledge base ``name``, as a picture."""
        try:
            return library.page_image(self.of(name).index, citation, passage)
        except Exception:  # a picture that cannot be made must not cost the answer
            log.warning("could not render page %s of a cited PDF", citation.get("page"))
            return None

    def model_path(self) -> Path:
        return self.assistant.generator.model_path.resolve()

    def use_model(self, path: Path, user: str | None = None) -> None:
        """Answer with another GGUF from now on, for every session; a bad file leaves the current one.
        It changes every user's answers, so a key's login may not (the --auth one may)."""
        if self._key(user) is not None:
            raise NotAllowed("the model answers every user: only the --auth login or a restart with --model changes it")
        with self._lock:
            if path.resolve() == self.model_path():
                return
            fresh = Assistant(replace(self.assistant.settings, model=path), progress=False)
            fresh.generator  # fails here, before the switch, if llama.cpp cannot load it
            self.assistant = fresh
            self._kbs = {fresh.settings.kb: fresh}  # the others reopen with the new model

    def models(self) -> list[Path]:
        """Every GGUF in the models folder, and the one in use wherever it lives."""
        found = sorted(p.resolve() for p in self.assistant.settings.models_dir.glob("*.gguf"))
        current = self.model_path()
        return found if current in found else [current, *found]
