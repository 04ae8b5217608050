"""API keys (`assistant api-key create|list|revoke`): who may reach which knowledge bases.

A key is shown once, when it is made; DATA/api_keys.json (owner-only) keeps its
sha256, never the key. A key is 32 random bytes, so a fast hash is enough: nothing
is gained by guessing, and a stolen file gives no key. The same keys are the web
page's logins when any exist (name + key), so a person sees only their knowledge bases.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from assistant.config import ConfigError, Settings
from index.errors import Error
from index.files import replace_text
from ingest.manifest import now

KEYS_FILE = "api_keys.json"
PREFIX = "pa-"  # so a key pasted somewhere it should not be is recognisable
KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,39}")


class NotAllowed(Error):
    """A knowledge base this login's key does not reach, or changes a read-only key may not make;
    ``code`` says which (the API's error code)."""

    exit_code = 2

    def __init__(self, message: str, code: str = "not_allowed"):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Key:
    name: str  # also the login on the web page
    kbs: tuple[str, ...]
    read_only: bool
    created: str
    digest: str  # sha256 of the key, hex

    def reaches(self, kb: str) -> bool:
        return kb in self.kbs

    def allow(self, kb: str, *, write: bool = False) -> None:
        """Refuse (NotAllowed) a knowledge base this key does not reach, or a change a read-only key asks for:
        the one check of the page's logins and the API."""
        if not self.reaches(kb):
            raise NotAllowed(f"this key does not reach the knowledge base {kb!r}")
        if write and self.read_only:
            raise NotAllowed(f"this key may read {kb!r} but not change it (it is read-only)", "read_only")


def _path(settings: Settings) -> Path:
    return settings.data_dir / KEYS_FILE


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def load(settings: Settings) -> list[Key]:
    try:
        rows = json.loads(_path(settings).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except ValueError:
        raise ConfigError(f"{_path(settings)} is not valid JSON: fix or delete it (every key in it stops working)") from None
    return [Key(r["name"], tuple(r["kbs"]), bool(r["read_only"]), r["created"], r["digest"]) for r in rows]


def _save(settings: Settings, keys: list[Key]) -> None:
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    replace_text(_path(settings), json.dumps([asdict(k) | {"kbs": list(k.kbs)} for k in keys], indent=2))


def create(settings: Settings, kbs: list[str], *, name: str | None = None, read_only: bool = False) -> tuple[Key, str]:
    """A new key for the knowledge bases ``kbs``: (its record, the key itself, to show once)."""
    keys = load(settings)
    taken = {k.name for k in keys}
    if name is None:
        name = next(f"key-{i}" for i in range(1, len(keys) + 2) if f"key-{i}" not in taken)
    if not KEY_NAME.fullmatch(name):
        raise ConfigError(f"{name!r} is not a key name: 1-40 letters, digits, _ . @ or -, starting with a letter or digit")
    if name in taken:
        raise ConfigError(f"a key named {name!r} exists: revoke it first or choose another --name")
    secret = PREFIX + secrets.token_urlsafe(32)
    key = Key(name, tuple(dict.fromkeys(kbs)), read_only, now(), _digest(secret))
    _save(settings, [*keys, key])
    return key, secret


def revoke(settings: Settings, name: str) -> bool:
    keys = load(settings)
    kept = [k for k in keys if k.name != name]
    if len(kept) == len(keys):
        return False
    _save(settings, kept)
    return True


def drop_kb(settings: Settings, kb: str) -> None:
    """A deleted knowledge base leaves every key's reach: one made later under its name starts unreached."""
    keys = load(settings)
    if any(k.reaches(kb) for k in keys):
        _save(settings, [Key(k.name, tuple(n for n in k.kbs if n != kb), k.read_only, k.created, k.digest) for k in keys])


def find(keys: list[Key], secret: str | None) -> Key | None:
    """The key whose hash matches ``secret``, compared in constant time."""
    if not secret:
        return None
    digest = _digest(secret)
    return next((k for k in keys if hmac.compare_digest(k.digest, digest)), None)


def login(keys: list[Key], name: str, secret: str) -> Key | None:
    """The web page's check: the key's name as the user, the key as the password."""
    key = find(keys, secret)
    return key if key is not None and hmac.compare_digest(key.name, name) else None
