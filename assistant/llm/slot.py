"""The answer model of one data folder: found or assembled, loaded once, shared by every question."""

from __future__ import annotations

import threading
from pathlib import Path

from assistant.config import Settings


class ModelSlot:
    """Holds the generator: llama.cpp in-process, or a model server when ``llm_url`` is set.

    Loading is lazy and locked, so the web page's sessions share one model, and a
    copy of the Assistant that holds this slot (a session's view) shares it too.
    """

    def __init__(self, settings: Settings, *, progress: bool = True, generator=None):
        self.settings = settings
        self.progress = progress
        self._generator = generator  # given: a test's or a benchmark's, already loaded
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._generator is not None

    def path(self) -> Path:
        from assistant.llm.models import check_gguf, ensure_default_gguf

        if self.settings.model is None:
            return ensure_default_gguf(self.settings.models_dir, progress=self.progress)
        check_gguf(self.settings.model)
        return self.settings.model

    @property
    def generator(self):
        with self._lock:
            s = self.settings
            if self._generator is None and s.llm_url:  # a model server; this GGUF only for its vocabulary
                from assistant.llm.remote import RemoteGenerator

                self._generator = RemoteGenerator(s.llm_url, self.path(), n_ctx=s.n_ctx, seed=s.seed)
            if self._generator is None:
                from assistant.llm.local import LlamaGenerator

                self._generator = LlamaGenerator(self.path(), n_ctx=s.n_ctx, n_threads=s.n_threads or None, seed=s.seed,
                                                 prefix_dir=s.models_dir / "prefix")
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

    def info(self) -> dict:
        from assistant.llm.models import describe

        info = describe(self.generator.model_path, self.settings.models_dir)
        server = {"server": self.settings.llm_url} if self.settings.llm_url else {}
        return {"path": str(info.path), "sha256": info.sha256[:12], "bytes": info.size, **server}
