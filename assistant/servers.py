"""Where the configured servers are, and what that means for privacy.

``chroma_url`` (a Chroma server started with ``chroma run``) and ``llm_url`` (an
OpenAI-compatible model server: llama-cpp-python's ``llama_cpp.server`` or
llama.cpp's ``llama-server``) are the only hosts besides loopback that the egress
guard lets this process reach. ``assistant serve`` (assistant/serve/stack.py) starts
both on this machine and records them in DATA/serve.json.
"""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from urllib.parse import urlsplit

from assistant.config import DEFAULT_KB, Settings
from index.store import COLLECTION

STACK_FILE = "serve.json"  # written by `assistant serve`: its pids, addresses and the Chroma server's folder


def split(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def bracketed(host: str) -> str:
    """A host as a URL or host:port writes it: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


def configured(settings: Settings) -> list[tuple[str, str]]:
    """(role, url) of each configured server."""
    out = []
    if settings.chroma_url:
        out.append(("vector store (Chroma server)", settings.chroma_url))
    if settings.llm_url:
        out.append(("answer model (OpenAI-compatible server)", settings.llm_url))
    return out


def allowed_hosts(settings: Settings) -> tuple[str, ...]:
    """What the egress guard lets through besides loopback: exactly the configured host:port pairs."""
    out: dict[str, None] = {}
    for _, url in configured(settings):
        host, port = split(url)
        out[f"{bracketed(host)}:{port}"] = None
    return tuple(out)


def scope(host: str) -> tuple[str, str | None]:
    """(where the host is, a warning or None). A name other than localhost is not resolved:
    which address it stands for can change, so it cannot be vouched for."""
    h = host.strip("[]").lower()
    if h in ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"):
        return "loopback", None
    try:
        ip = ipaddress.ip_address(h)
    except ValueError:
        return "host name", (f"{host} is a name, not an address: it cannot be verified to stay on this machine "
                             "or a private network; use its IP address to have it checked")
    if ip.is_loopback:
        return "loopback", None
    if ip.is_private and not ip.is_unspecified:
        return "private network", None
    return "public address", f"{host} is neither loopback nor a private range: data sent there may leave your network"


def loopback(host: str) -> bool:
    """Whether a server listening on ``host`` is reachable from this machine only. Narrower than
    ``scope``, which also takes "[::1]", "LOCALHOST", localhost.localdomain and the like:
    an address to listen on that is any of those still needs a login."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def off_machine(url: str | None) -> bool:
    """Whether talking to ``url`` sends data off this machine (anything but loopback)."""
    return bool(url) and scope(split(url)[0])[0] != "loopback"


def index_root(settings: Settings) -> Path:
    """This client's local side of the index: the embedded store's folder, or, with a Chroma
    server, a folder per server for its BM25 index, manifest and caches (beside the embedded
    index, not in it: rebuilding one leaves the other alone); a knowledge base's in its own folder."""
    if not settings.chroma_url:
        return settings.index_dir
    host, port = split(settings.chroma_url)
    return (settings.kb_dir or settings.data_dir) / "servers" / re.sub(r"[^\w.-]+", "_", f"{host}_{port}")


def collection(settings: Settings) -> str:
    """The Chroma collection of the knowledge base: a server holds them side by side; the
    embedded store of each lives in a folder of its own."""
    return COLLECTION if settings.kb == DEFAULT_KB else f"kb-{settings.kb}"


def read_stack(settings: Settings) -> dict | None:
    try:
        return json.loads((settings.data_dir / STACK_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def started_chroma_path(settings: Settings) -> Path | None:
    """The data folder of the Chroma server at chroma_url, when `assistant serve` started it
    from this data folder: then forget can compact that server's files too."""
    stack = read_stack(settings)
    chroma = (stack or {}).get("chroma") or {}
    if settings.chroma_url and chroma.get("url") == settings.chroma_url.rstrip("/") and chroma.get("path"):
        path = Path(chroma["path"])
        return path if (path / "chroma.sqlite3").is_file() else None
    return None
