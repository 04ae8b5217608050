"""Reaching a Chroma server, and Chroma's failures said in one line.

Used by index.store, the only other module that imports chromadb.
"""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from index.errors import Error, StoreError


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def _unreachable(err: BaseException) -> bool:
    """A connection that could not be made or broke off (server down, killed, wrong port)."""
    import httpx

    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, (httpx.TransportError, ConnectionError)) or "could not connect to a chroma server" in str(err).lower():
            return True
        err = err.__cause__ or err.__context__
    return False


def _http_client(url: str):
    import chromadb
    from chromadb.config import Settings

    parts = urlsplit(url)
    return chromadb.HttpClient(
        host=parts.hostname, port=parts.port or (443 if parts.scheme == "https" else 80),
        ssl=parts.scheme == "https", settings=Settings(anonymized_telemetry=False),  # telemetry off
    )


def _server_error(url: str, err: BaseException, doing: str) -> str:
    if _unreachable(err):
        return f"cannot reach the Chroma server at {url} while {doing}: is its `chroma run` still running?"
    return f"the Chroma server at {url} failed while {doing}: {_first_line(err)}"


def _translated(doing: str):
    """Chroma's own exceptions (and httpx's, in server mode) become one-line StoreErrors."""

    def wrap(fn):
        @functools.wraps(fn)
        def inner(self, *args, **kwargs):
            try:
                return fn(self, *args, **kwargs)
            except Error:
                raise
            except Exception as err:
                raise StoreError(self._explain(err, doing)) from err

        return inner

    return wrap
