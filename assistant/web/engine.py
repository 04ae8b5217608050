"""The one Assistant (index and models, loaded once) that every browser session shares."""

from __future__ import annotations

import copy
import logging
import threading
from dataclasses import replace
from pathlib import Path

from assistant.answer import Assistant
from assistant.web import library

log = logging.getLogger("assistant.web.ui")


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
