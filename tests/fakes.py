"""Stand-ins for unit tests of our own logic (decoding, skipping, repair), where the
embedding model is not what is tested and its seconds per file would only slow them."""

from __future__ import annotations

import hashlib


class FakeEmbedder:
    """Deterministic unit vectors from a hash of the text: Chroma needs vectors, these tests need speed."""

    id = "fake-embedder:16"

    def load(self):
        return self

    def embed(self, texts, *, progress=False):
        out = []
        for t in texts:
            v = [b - 127.5 for b in hashlib.sha256(t.encode("utf-8")).digest()[:16]]
            n = sum(x * x for x in v) ** 0.5
            out.append([x / n for x in v])
        return out
