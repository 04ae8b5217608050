"""A private document assistant: cited answers from your own documents, with local models.

    from assistant import Assistant, Settings, Answer

The three names are loaded on first use (PEP 562), so that importing a part of the
package (the CLI's egress guard first of all) does not pull in the rest.
"""

from __future__ import annotations

__all__ = ["Assistant", "Settings", "Answer"]

_HOMES = {"Assistant": "assistant.answer", "Answer": "assistant.result", "Settings": "assistant.config"}


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'assistant' has no attribute {name!r}")
    import importlib

    module = importlib.import_module(_HOMES[name])
    return getattr(module, name)
