"""One frozen Settings object, read once at the edge.

Precedence, lowest first: defaults < ``config.toml`` in the data folder <
``ASSISTANT_*`` environment variables < command-line flags. Nothing else in the
project reads the environment or a settings file.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from index.errors import Error


class ConfigError(Error):
    """A setting has an invalid value; the message names the key."""

    exit_code = 2


PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_KB = "default"
# A knowledge base's name is a folder and part of a Chroma collection's name (3-63 of
# [a-zA-Z0-9._-]), and a model name in the API: lower-case letters, digits, - and _.
KB_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
KB_NAME_RULE = "1-40 lower-case letters, digits, - or _, starting with a letter or digit"


def bundled(name: str) -> Path:
    """The bundled ``corpus`` or ``eval`` folder.

    A wheel carries both inside the package (pyproject maps them to ``assistant/corpus``
    and ``assistant/eval``); a source checkout, editable install included, has them
    beside the package, at the top of the repository.
    """
    inside = Path(__file__).resolve().parent / name
    return inside if inside.is_dir() else PROJECT_ROOT / name


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "private-assistant"


@dataclass(frozen=True)
class Settings:
    data_dir: Path = dataclasses.field(default_factory=_default_data_dir)
    corpus: Path = dataclasses.field(default_factory=lambda: bundled("corpus"))  # what `ask` ingests when the index is empty
    model: Path | None = None  # a GGUF file; None = the bundled default, assembled into data_dir/models
    embed_model: Path | None = None  # a sentence-transformers folder; None = the bundled default
    k: int = 4  # chunks retrieved for a question
    follow: int = 1  # chunks after each retrieved one also given to the model (lists run on)
    chunk_size: int = 200  # characters; measured best of 150-500 on the dev set, and short prompts
    chunk_overlap: int = 40  # characters, whole sentences
    dense_weight: float = 0.2
    lexical_weight: float = 1.0
    n_ctx: int = 4096
    n_threads: int = 0  # 0 = all cores
    max_tokens: int = 512
    temperature: float = 0.0
    seed: int = 0
    focus: bool = False  # give the model only what bears on the question of every passage but the best (assistant.focus)
    redact: bool = False  # replace personal data by placeholders at ingest (ingest.redact)
    ocr: bool = True  # read scanned PDF pages by OCR at ingest (ingest.ocr; seconds per page)
    debug_log: bool = False  # log questions, answers and passages to DATA/logs/debug.log (off: logs hold no text)
    chroma_url: str | None = None  # a Chroma server (`chroma run`), http://HOST:PORT; None = the embedded store
    llm_url: str | None = None  # an OpenAI-compatible model server, http://HOST:PORT/v1; None = llama.cpp in-process
    kb: str = DEFAULT_KB  # the knowledge base (assistant.kb); the default one is the index of earlier releases

    @property
    def kb_dir(self) -> Path | None:
        """The folder of a knowledge base other than the default one (its index and uploads)."""
        return None if self.kb == DEFAULT_KB else self.data_dir / "kb" / self.kb

    @property
    def index_dir(self) -> Path:
        return self.kb_dir / "index" if self.kb_dir else self.data_dir / "index"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def uploads_dir(self) -> Path:
        return self.kb_dir / "uploads" if self.kb_dir else self.data_dir / "uploads"

    @classmethod
    def load(cls, flags: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> "Settings":
        """Defaults < DATA_DIR/config.toml < ASSISTANT_* environment variables < ``flags``."""
        return load(flags, env)

    @property
    def config_file(self) -> Path:
        return self.data_dir / "config.toml"

    def check(self) -> "Settings":
        problems = []
        if self.k < 1:
            problems.append("k must be at least 1")
        if self.follow < 0:
            problems.append("follow must be 0 or more")
        if self.chunk_size < 50:
            problems.append("chunk_size must be at least 50")
        if not 0 <= self.chunk_overlap < self.chunk_size:
            problems.append("chunk_overlap must be between 0 and chunk_size")
        if self.n_ctx < 512:
            problems.append("n_ctx must be at least 512")
        if not 0 <= self.temperature <= 2:
            problems.append("temperature must be between 0 and 2")
        if self.max_tokens < 16:
            problems.append("max_tokens must be at least 16")
        elif self.max_tokens > self.n_ctx - 256:
            problems.append(f"max_tokens ({self.max_tokens}) must leave at least 256 of n_ctx ({self.n_ctx}) for the prompt")
        if self.n_threads < 0:
            problems.append("n_threads must be 0 (all cores) or more")
        for name in ("dense_weight", "lexical_weight"):
            if not 0 <= getattr(self, name) < float("inf"):
                problems.append(f"{name} must be 0 or more")
        if not KB_NAME.fullmatch(self.kb):
            problems.append(f"kb must be {KB_NAME_RULE}, got {self.kb!r}")
        problems += [f"{name} {why}" for name, why in _url_problems(self)]
        if problems:
            raise ConfigError("invalid settings: " + "; ".join(problems))
        return self


def _url_problems(settings: Settings):
    """chroma_url must be http(s)://HOST:PORT; llm_url http(s)://HOST:PORT[/PATH] (the API root, e.g. /v1)."""
    from urllib.parse import urlsplit

    for name in ("chroma_url", "llm_url"):
        url = getattr(settings, name)
        if url is None:
            continue
        try:
            parts = urlsplit(url)
            parts.port  # raises on a port that is not a number
        except ValueError:
            yield name, f"is not a valid URL: {url!r}"
            continue
        if parts.scheme not in ("http", "https") or not parts.hostname:
            yield name, f"must look like http://HOST:PORT, got {url!r}"
        elif parts.query or parts.fragment or parts.username:
            yield name, f"must be a plain http://HOST:PORT address without login, query or fragment, got {url!r}"
        elif name == "chroma_url" and parts.path.strip("/"):
            yield name, f"must be http://HOST:PORT without a path (a Chroma server serves at its root), got {url!r}"


FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def _coerce(name: str, value: Any, origin: str) -> Any:
    kind = typing.get_type_hints(Settings)[name]
    optional = type(None) in typing.get_args(kind)
    base = next((a for a in typing.get_args(kind) if a is not type(None)), kind)
    if value is None or (optional and value == ""):
        if optional:
            return None
        raise ConfigError(f"{origin}: {name} needs a value")
    try:
        if base is bool:
            if isinstance(value, bool):
                return value
            if str(value).strip().lower() in ("1", "true", "yes", "on"):
                return True
            if str(value).strip().lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if base is str:
            return str(value).strip()
        if base is Path:
            return Path(str(value)).expanduser()
        if base is int and not isinstance(value, bool):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError  # k = 2.5 is a mistake, not 2
            return int(value)
        if base is float and not isinstance(value, bool):
            return float(value)
    except (TypeError, ValueError):
        pass
    raise ConfigError(f"{origin}: {name} must be a {base.__name__}, got {value!r}")


def load(flags: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Merge the four layers. ``flags`` holds only the options the user gave (None = not given)."""
    flags = {k: v for k, v in (flags or {}).items() if v is not None and k in FIELDS}
    env = os.environ if env is None else env
    from_env = {k[len("ASSISTANT_"):].lower(): v for k, v in env.items() if k.startswith("ASSISTANT_")}
    unknown = sorted(set(from_env) - set(FIELDS))
    if unknown:
        raise ConfigError(f"unknown environment setting ASSISTANT_{unknown[0].upper()} (known: {', '.join(FIELDS)})")

    values: dict[str, Any] = {}
    data_dir = flags.get("data_dir") or from_env.get("data_dir")
    data_dir = _coerce("data_dir", data_dir, "data_dir") if data_dir else _default_data_dir()
    config_file = data_dir / "config.toml"
    if config_file.is_file():
        try:
            from_file = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise ConfigError(f"{config_file}: not valid TOML: {err}") from err
        for key, value in from_file.items():
            if key not in FIELDS or key == "data_dir":
                raise ConfigError(f"{config_file}: unknown setting {key!r} (known: {', '.join(k for k in FIELDS if k != 'data_dir')})")
            values[key] = _coerce(key, value, str(config_file))
    for key, value in from_env.items():
        values[key] = _coerce(key, value, f"ASSISTANT_{key.upper()}")
    for key, value in flags.items():
        values[key] = _coerce(key, value, f"--{key.replace('_', '-')}")
    values["data_dir"] = data_dir
    return Settings(**values).check()
