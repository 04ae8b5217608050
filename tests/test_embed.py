"""The embedder's ONNX path: int8 vectors close to sentence-transformers', made once,
reused without importing torch, remade when damaged."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from index.embed import SentenceTransformerEmbedder, _OnnxModel

pytestmark = pytest.mark.model

TEXTS = [
    "开源大模型的盈利通常建立在服务和支持上。",
    "Closed models are used through a vendor's API.",
    "数据隐私" * 300,  # truncated at the model's 256 tokens by both paths
    "",
]


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("models") / "onnx"


def test_the_int8_export_stays_close_to_sentence_transformers_vectors(embedder, onnx_dir, project_root):
    import numpy as np

    fast = SentenceTransformerEmbedder(embedder.path, onnx_dir=onnx_dir)
    earlier = _OnnxModel.paths(fast, embedder.id)  # the exact export an earlier version left
    onnx_dir.mkdir(parents=True, exist_ok=True)
    for path in earlier:
        path.write_bytes(b"left by an earlier version")
    corpus = [p.read_text(encoding="utf-8")[i : i + 200] for p in sorted((project_root / "corpus").iterdir()) for i in (0, 500, 1000)]
    got, want = np.array(fast.embed(TEXTS + corpus)), np.array(embedder.embed(TEXTS + corpus))
    assert fast.backend == "onnx" and embedder.backend == "sentence-transformers"
    assert np.allclose(np.linalg.norm(got, axis=1), 1, atol=1e-5)
    cosine = (got * want).sum(1)
    assert cosine.min() > 0.95 and np.median(cosine) > 0.98
    assert abs(got - want).max() > 1e-4  # really quantized, not the exact export
    record = json.loads(_OnnxModel.paths(fast)[1].read_text())
    assert record["source"] == fast.id == embedder.id + ":int8"
    assert record["max_abs_diff"] < 1e-4 and record["weights"] == "int8" and record["min_cosine"] >= 0.95
    assert not any(path.exists() for path in earlier) and all(path.exists() for path in _OnnxModel.paths(fast))


def test_a_later_process_embeds_without_importing_torch(embedder, onnx_dir):
    SentenceTransformerEmbedder(embedder.path, onnx_dir=onnx_dir).load()  # the export exists
    code = (
        "import sys, json\n"
        "from index.embed import SentenceTransformerEmbedder\n"
        f"e = SentenceTransformerEmbedder({str(embedder.path)!r}, onnx_dir={str(onnx_dir)!r})\n"
        "v = e.embed(['开源模型'])\n"
        "print(json.dumps([e.backend, len(v[0]), 'torch' in sys.modules, 'sentence_transformers' in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == ["onnx", 384, False, False]


def test_a_damaged_export_is_noticed_and_made_again(embedder, tmp_path):
    e = SentenceTransformerEmbedder(embedder.path, onnx_dir=tmp_path)
    want = e.embed(["本地部署"])
    onnx_path, _ = _OnnxModel.paths(e)
    data = onnx_path.read_bytes()
    onnx_path.write_bytes(data[: len(data) // 2])  # truncated, as by a full disk
    again = SentenceTransformerEmbedder(embedder.path, onnx_dir=tmp_path)
    assert _OnnxModel.open(again) is None  # the hash no longer matches
    got = again.embed(["本地部署"])
    assert again.backend == "onnx" and onnx_path.stat().st_size == len(data)
    assert max(abs(a - b) for a, b in zip(got[0], want[0])) < 1e-5
