"""The system turn read once per model, not once per process.

Every question's prompt starts with the same system turn (about 175 tokens, 1.7 s
of prompt processing on 2 cores). A warm chat keeps it in llama.cpp's context;
a new process (a cold `assistant ask`) or a switch of language would read it
again. So when the context does not already hold it, the system turn is read
on its own and its KV state saved to a file (about 28 KB a token); the next
time the file is put back instead.

The system turn is read on its own in both cases, so the context holds the same
bytes whether it came from the file or was just computed: answers are the same
with and without a saved state. The file holds the system prompt's state only,
never a document or a question: the prefix ends where the system turn does.
Files are keyed by the model, the context size, the llama.cpp version and the
tokens, so a changed prompt or model never restores a stale state.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
from pathlib import Path

from assistant.llm import llama

log = logging.getLogger(__name__)

MIN_TOKENS = 64  # below this, reading the tokens is as cheap as reading the file


class SavedPrefix:
    def __init__(self, folder: Path, model_path: Path, n_ctx: int):
        self.folder = Path(folder)
        stat = Path(model_path).stat()
        self._key = f"{Path(model_path).name}:{stat.st_size}:{n_ctx}:{llama.version()}"

    def bring(self, llm, prompt: list[int], length: int) -> int:
        """Make the context hold ``prompt[:length]``: already there, from its file, or read now and saved.
        Returns how many tokens came from the file (0 when none did)."""
        if length < MIN_TOKENS or length >= len(prompt) or common_prefix(llm._input_ids.tolist(), prompt) >= length:
            return 0
        tokens = prompt[:length]
        path = self.folder / f"{hashlib.sha256(f'{self._key}:{tokens}'.encode()).hexdigest()[:24]}.state"
        llm.reset()
        if path.is_file() and self._restore(llm, path, tokens):
            return length
        llm.eval(tokens)
        self._save(llm, path)
        return 0

    def _restore(self, llm, path: Path, tokens: list[int]) -> bool:
        data = path.read_bytes()
        buffer = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        if not llama.restore_state(llm, buffer, len(data)):
            log.warning("saved prompt state %s does not fit this context; reading the prompt instead", path.name)
            llm.reset()
            return False
        llm.input_ids[: len(tokens)] = tokens
        llm.n_tokens = len(tokens)
        llm._requires_eval = True  # restored logits are not a live decode's (see Llama.generate)
        return True

    def _save(self, llm, path: Path) -> None:
        data, size = llama.save_state(llm)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(memoryview(data)[:size])
            tmp.replace(path)  # whole or absent: a reader never sees half a state
        except OSError as err:  # a full or read-only disk costs this speed-up only
            log.warning("cannot save the prompt state (%s)", err)
            tmp.unlink(missing_ok=True)


def common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n
