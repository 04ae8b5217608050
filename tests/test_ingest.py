"""Ingest into a real Chroma in a temp folder with the real embedder."""

import shutil

import pytest

from index.errors import IndexMismatch
from index.search import Index
from ingest.forget import forget
from ingest.pipeline import ingest

pytestmark = pytest.mark.model  # every test here embeds with the real embedder

SIZE, OVERLAP = 300, 60


@pytest.fixture
def corpus(tmp_path, project_root):
    dst = tmp_path / "docs"
    shutil.copytree(project_root / "corpus", dst)
    return dst


@pytest.fixture
def index(tmp_path, embedder):
    return Index(tmp_path / "index", embedder, chunker="test")


def _state(index):
    """Chunk ids per source, from Chroma, after checking the BM25 side agrees."""
    chunks = index.store.chunks()
    assert index.lexical.ids() == {c.id for c in chunks}
    assert len(chunks) == len({c.id for c in chunks}), "duplicate chunk ids"
    out = {}
    for c in chunks:
        out.setdefault(c.source, set()).add(c.id)
    return out


def test_ingest_then_reingest_is_a_noop(index, corpus):
    first = ingest(index, [corpus], size=SIZE, overlap=OVERLAP, progress=False)
    assert sorted(first.added) == sorted(p.name for p in corpus.iterdir())
    assert first.skipped == [] and first.chunks_added == index.count() > 50
    before = _state(index)

    second = ingest(index, [corpus], size=SIZE, overlap=OVERLAP, progress=False)
    assert sorted(second.unchanged) == sorted(first.added)
    assert (second.added, second.replaced, second.removed, second.chunks_added) == ([], [], [], 0)
    assert _state(index) == before


def test_edited_file_replaces_exactly_its_chunks(index, corpus):
    ingest(index, [corpus], size=SIZE, overlap=OVERLAP, progress=False)
    before = _state(index)
    edited = corpus / "002_f02664d2df2309cc.txt"
    edited.write_text(edited.read_text(encoding="utf-8") + "\n新增的一段：本地部署的模型不需要把数据上传到云端。\n", encoding="utf-8")

    report = ingest(index, [corpus], size=SIZE, overlap=OVERLAP, progress=False)
    assert report.replaced == [edited.name] and len(report.unchanged) == 4
    after = _state(index)
    for source in before:
        if source != edited.name:
            assert after[source] == before[source]
    assert after[edited.name] != before[edited.name]
    texts = [c.text for c in index.chunks_of(edited.name)]
    assert any("不需要把数据上传到云端" in t for t in texts)
    assert len({c.doc_hash for c in index.chunks_of(edited.name)}) == 1


def test_removed_file_leaves_no_chunk(index, corpus):
    ingest(index, [corpus], size=SIZE, overlap=OVERLAP, progress=False)
    gone = corpus / "004_c522dbecc065bacf.txt"
    gone.unlink()
    report = ingest(index, [corpus], size=SIZE, overlap=OVERLAP, progress=False)
    assert report.removed == [gone.name]
    assert gone.name not in _state(index)  # _state also checks BM25 holds exactly Chroma's ids
    assert index.lexical.search("假装", 50) == []  # a word only that article used


def _files_holding(root, needles):
    """Every file under root whose bytes contain one of the needles (UTF-8)."""
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()
        and any(n.encode("utf-8") in p.read_bytes() for n in needles)
    )


def test_forget_leaves_no_text_in_any_file(index, corpus, tmp_path):
    ingest(index, [corpus], size=SIZE, overlap=OVERLAP, progress=False)
    source = "003_18313c85fb85a1ba.txt"
    text = "".join(c.text for c in index.chunks_of(source))
    needles = [text[i : i + 12] for i in range(0, len(text) - 12, 97)]  # pieces across the whole article
    assert _files_holding(tmp_path / "index", needles)  # the probe finds the text while it is indexed
    n, path = forget(index, source)
    assert n > 0 and path == str((corpus / source).resolve())
    assert source not in _state(index)
    assert _files_holding(tmp_path / "index", needles) == []  # Chroma's SQLite and log, segments, BM25
    assert forget(index, "no-such-source.txt") == (0, None)
    # The index still works after compaction.
    again = Index(tmp_path / "index", index.embedder, chunker="test")
    assert again.count() == index.count() and again.search("开源", 3)


def test_bad_files_are_skipped_and_the_rest_ingested(index, tmp_path):
    docs = tmp_path / "mixed"
    docs.mkdir()
    (docs / "empty.txt").write_bytes(b"")
    (docs / "binary.txt").write_bytes(bytes(range(256)) * 20)
    (docs / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (docs / "gbk.txt").write_bytes("开源大模型的代码是公开的，任何人都可以访问和修改。\n".encode("gbk"))
    report = ingest(index, [docs, tmp_path / "missing"], size=SIZE, overlap=OVERLAP, progress=False)
    skipped = {p.rsplit("/", 1)[-1]: why for p, why in report.skipped}
    assert set(skipped) == {"empty.txt", "binary.txt", "picture.png", "missing"}
    assert all(why and "\n" not in why for why in skipped.values())
    assert report.added == ["gbk.txt"]
    assert "任何人都可以访问和修改" in index.chunks_of("gbk.txt")[0].text
    _state(index)


def test_index_refuses_another_chunker(tmp_path, embedder, corpus):
    index = Index(tmp_path / "index", embedder, chunker="v1")
    ingest(index, [corpus / "002_f02664d2df2309cc.txt"], size=SIZE, overlap=OVERLAP, progress=False)
    with pytest.raises(IndexMismatch, match="assistant ingest --rebuild"):
        Index(tmp_path / "index", embedder, chunker="v2")


def test_an_index_of_exact_vectors_is_embedded_anew_by_the_int8_embedder(tmp_path, embedder, corpus, caplog):
    from index.embed import SentenceTransformerEmbedder
    from index.search import Fusion

    doc = corpus / "002_f02664d2df2309cc.txt"
    index = Index(tmp_path / "index", embedder, chunker="test")
    ingest(index, [doc], size=SIZE, overlap=OVERLAP, progress=False)
    ids = index.store.ids()
    index.store.close()
    fast = SentenceTransformerEmbedder(embedder.path, onnx_dir=tmp_path / "onnx")
    with caplog.at_level("WARNING"):
        again = Index(tmp_path / "index", fast, chunker="test")
    assert f"is made anew (it was embedded by {embedder.id}, now {fast.id})" in caplog.text
    assert again.store.ids() == ids and not again.store.needs_vectors
    for chunk in again.chunks_of(doc.name):  # each found first by its new vector alone
        assert again.search(chunk.text, 1, Fusion(dense=1.0, lexical=0.0))[0].chunk.id == chunk.id
    again.store.close()
    other = SentenceTransformerEmbedder(embedder.path)
    other.id = "another-model:1"  # another model's vectors are not comparable: rebuild from the files
    with pytest.raises(IndexMismatch, match="assistant ingest --rebuild"):
        Index(tmp_path / "index", other, chunker="test")


def test_lexical_side_is_rebuilt_after_a_crash(tmp_path, embedder, corpus):
    index = Index(tmp_path / "index", embedder, chunker="test")
    ingest(index, [corpus], size=SIZE, overlap=OVERLAP, progress=False)
    ids = index.store.ids()
    (tmp_path / "index" / "lexical.json").unlink()  # as if killed between the two writes
    reopened = Index(tmp_path / "index", embedder, chunker="test")
    assert reopened.lexical.ids() == ids


def test_half_replaced_source_is_redone(index, corpus):
    ingest(index, [corpus], size=SIZE, overlap=OVERLAP, progress=False)
    source = "002_f02664d2df2309cc.txt"
    stale = index.chunks_of(source)[0]
    # A crash between adding the new chunks and deleting the old leaves a stale hash behind.
    from dataclasses import replace

    ghost = replace(stale, id="ghost-chunk", doc_hash="0" * 64)
    index.add([ghost])
    report = ingest(index, [corpus], size=SIZE, overlap=OVERLAP, progress=False)
    assert report.replaced == [source]
    assert "ghost-chunk" not in index.store.ids() | index.lexical.ids()


def test_hybrid_search_finds_gold_passages(index, corpus):
    ingest(index, [corpus], size=SIZE, overlap=OVERLAP, progress=False)
    hits = index.search("闭源模型主要通过什么方式盈利？", 5)
    assert hits and hits[0].chunk.source == "002_f02664d2df2309cc.txt"
    assert any("闭源模型的盈利主要通过软件的许可证费用" in h.chunk.text.replace(" ", "") for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert index.search("   ", 5) == []


def test_a_repeated_paragraph_is_embedded_once_and_every_chunk_keeps_a_vector(tmp_path, embedder, capsys):
    from index.search import indexed_text

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "log.txt").write_text("服务器每天凌晨备份一次数据。备份完成后发送通知。\n" * 20000 + "唯一的一句：密钥每季度轮换。\n", encoding="utf-8")
    index = Index(tmp_path / "index", embedder, chunker="test")
    embedded: list[str] = []
    real = embedder.embed

    def spy(texts, *, progress=False):
        embedded.extend(texts)
        return real(texts, progress=progress)

    embedder.embed = spy
    try:
        ingest(index, [docs], size=SIZE, overlap=OVERLAP, progress=True)
    finally:
        del embedder.embed
    chunks = index.store.chunks()
    texts = {indexed_text(c) for c in chunks}
    assert len(chunks) > 1500 and len(embedded) == len(texts) < 10  # thousands of chunks, a handful of texts
    assert index.lexical.ids() == {c.id for c in chunks}
    got = index.store._col.get(ids=[c.id for c in chunks[:3]], include=["embeddings"])["embeddings"]
    assert all(abs(a - b) < 1e-6 for a, b in zip(got[0], embedder.embed([indexed_text(chunks[0])])[0]))
    assert any("密钥每季度轮换" in h.chunk.text for h in index.search("密钥多久轮换一次？", 3))
    assert "write" in capsys.readouterr().err  # a file this large shows its progress inside it
