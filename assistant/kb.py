"""Knowledge bases: separate indexes in one data folder (`assistant kb create|list|delete`, `--kb`).

Each has its own Chroma collection, BM25 index, manifest, lock and uploads. The
default one is the index earlier releases made (DATA/index), so an existing data
folder keeps working as it is; every other lives in DATA/kb/NAME, registered by its
kb.json. With a Chroma server, each is a collection of that server (assistant.servers).
"""

from __future__ import annotations

import json
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, replace

from assistant import keys
from assistant.answer import open_index
from assistant.config import DEFAULT_KB, KB_NAME, KB_NAME_RULE, ConfigError, Settings
from index.errors import Error
from index.files import replace_text
from index.store import collections
from ingest.lock import locked
from ingest.manifest import now
from ingest.wipe import Removals, wipe

REGISTRY = "kb.json"


class UnknownKb(Error):
    exit_code = 2


@dataclass(frozen=True)
class KbInfo:
    name: str
    documents: int
    chunks: int
    created: str  # "" for the default one


def of(settings: Settings, name: str) -> Settings:
    """The same settings, for the knowledge base ``name``."""
    return replace(settings, kb=check_name(name))


def check_name(name: str) -> str:
    if not KB_NAME.fullmatch(name or ""):
        raise ConfigError(f"{name!r} is not a knowledge base name: {KB_NAME_RULE}")
    return name


def names(settings: Settings) -> list[str]:
    """Every knowledge base: the default one first, then those made here or on the Chroma server."""
    root = settings.data_dir / "kb"
    found = {p.parent.name for p in root.glob(f"*/{REGISTRY}")} if root.is_dir() else set()
    if settings.chroma_url:
        found |= {c[len("kb-"):] for c in collections(settings.chroma_url) if c.startswith("kb-")}
    return [DEFAULT_KB, *sorted(n for n in found if KB_NAME.fullmatch(n) and n != DEFAULT_KB)]


def exists(settings: Settings, name: str | None = None) -> bool:
    name = settings.kb if name is None else name
    return name == DEFAULT_KB or name in names(settings)


def require(settings: Settings) -> None:
    """A clear error for a --kb that was never created (rather than an empty index made by a typo)."""
    if not exists(settings):
        known = ", ".join(names(settings))
        raise UnknownKb(f"no knowledge base {settings.kb!r} (there are: {known}); create it with: assistant kb create {settings.kb}")


@contextmanager
def _opened(kb: Settings):
    index = open_index(kb)
    try:
        yield index
    finally:
        index.close()


def create(settings: Settings, name: str) -> Settings:
    name = check_name(name)
    if exists(settings, name):
        raise ConfigError(f"the knowledge base {name!r} already exists")
    kb = of(settings, name)
    kb.kb_dir.mkdir(parents=True, mode=0o700)
    try:
        open_index(kb).close()  # makes its index (and, on a server, its collection) now: a bad server fails here
    except BaseException:
        shutil.rmtree(kb.kb_dir, ignore_errors=True)  # not left half made, which would block a retry
        raise
    replace_text(kb.kb_dir / REGISTRY, json.dumps({"name": name, "created": now()}))  # last: it makes the kb exist
    return kb


def info(settings: Settings, name: str) -> KbInfo:
    kb = of(settings, name)
    created = ""
    if kb.kb_dir and (kb.kb_dir / REGISTRY).is_file():
        created = json.loads((kb.kb_dir / REGISTRY).read_text(encoding="utf-8")).get("created", "")
    with _opened(kb) as index:
        return KbInfo(name, len(index.documents()), index.count(), created)


def delete(settings: Settings, name: str) -> dict:
    """Remove a knowledge base and everything in it: its chunks are deleted and their text
    wiped from the store's files as `forget` does (which matters on a Chroma server, whose
    files stay), then its collection and its folder go. Returns the wipe's record."""
    if check_name(name) == DEFAULT_KB:
        raise ConfigError("the default knowledge base cannot be deleted: `assistant forget` removes its documents, "
                          "`assistant purge` everything")
    require(of(settings, name))
    kb = of(settings, name)
    with _opened(kb) as index, locked(index, quiet=True):
        removals = Removals()
        removals.remove(index, index.store.chunks())
        record = wipe(index, removals, by="kb delete")
        if kb.chroma_url:
            from index.store import drop

            drop(kb.chroma_url, index.store.collection)
    if kb.kb_dir.exists():
        shutil.rmtree(kb.kb_dir)
    keys.drop_kb(settings, name)
    return record
