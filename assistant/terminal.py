"""An answer shown once: streamed as the model writes it, then replaced in place by the checked answer.

On a terminal the user first sees sentences quoted from the passages
(assistant.preview), then watches the model's words come; then the quotes and the
streamed lines are erased and the checked answer is printed where they were, so
nothing is read twice (when the checker changed nothing and nothing was quoted,
the stream simply stays). Piped output gets only the checked answer, once. A
stream that has scrolled past the top of the window cannot be erased; the checked
answer then follows under a label.
"""

from __future__ import annotations

import os
import sys
import unicodedata
from typing import TextIO


def screen_rows(text: str, columns: int) -> int:
    """Rows ``text`` takes when written from the start of a row, counting the row the cursor ends on."""
    rows = 0
    for line in text.split("\n"):
        width = sum(_width(c) for c in line)
        rows += max(1, -(-width // columns))
    return rows


def _width(c: str) -> int:
    if unicodedata.combining(c):
        return 0
    return 2 if unicodedata.east_asian_width(c) in "WF" else 1


class LiveAnswer:
    """``out`` None: whatever ``sys.stdout`` is when something is written. llama-cpp-python
    swaps ``sys.stdout`` for /dev/null while a model loads, and `ask` loads it in the
    background: a stream taken at the start could be that one."""

    def __init__(self, out: TextIO | None = None):
        self._out = out
        self._live: bool | None = None
        self.shown = ""

    @property
    def out(self) -> TextIO:
        return self._out or sys.stdout

    @property
    def live(self) -> bool:
        """A terminal: asked at the first write, when no model is loading any more."""
        if self._live is None:
            self._live = self.out.isatty()
        return self._live

    def preview(self, text: str, label: str) -> None:
        """Shown until the checked answer replaces it (so, on a terminal only)."""
        self.token(f"{label}\n{text}\n\n")

    def token(self, text: str) -> None:
        if self.live:
            self.out.write(text)
            self.out.flush()
            self.shown += text

    def finish(self, answer: str, label: str) -> None:
        """Leave ``answer`` on screen (followed by a line break) as the final text."""
        if not self.live:
            self.out.write(answer + "\n")
        elif answer == self.shown.strip():
            self.out.write("\n")
        else:
            try:
                size = os.get_terminal_size(self.out.fileno())
            except (OSError, ValueError):
                size = os.terminal_size((0, 0))
            # A terminal of unknown size (0 x 0) cannot be erased by rows either.
            if size.columns > 0 and (rows := screen_rows(self.shown, size.columns)) < size.lines:
                up = f"\x1b[{rows - 1}A" if rows > 1 else ""
                self.out.write(f"\r{up}\x1b[J{answer}\n")  # to the first streamed row, erase to the end, rewrite
            else:
                self.out.write(f"\n\n{label}\n{answer}\n")
        self.out.flush()
        self.shown = ""
