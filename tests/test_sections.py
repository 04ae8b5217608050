"""A list question is given the section it names (Index.with_sections): a real Chroma
in a temporary folder, the fake embedder (what is tested is the choice of chunks)."""

from fakes import FakeEmbedder

from index.search import Index
from index.types import Hit
from ingest.pipeline import ingest


def test_a_hit_brings_its_whole_section_in_document_order(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    items = "".join(f"{i}. 第{i}项优势是青湖方案的一个长处，需要展开说明才能看清。\n\n" for i in range(1, 6))
    (folder / "plan.md").write_text(f"# 青湖方案\n\n## 优势\n\n{items}## 风险\n\n风险一是成本。风险二是工期。\n", encoding="utf-8")
    index = Index(tmp_path / "index", FakeEmbedder(), chunker="test")
    ingest(index, [folder], size=40, overlap=0, progress=False)
    chunks = index.chunks_of("plan.md")
    advantages = [c for c in chunks if c.headings[-1:] == ("优势",)]
    assert len(advantages) >= 4
    third = advantages[2]

    got = index.with_sections([Hit(third, 1.0)], top=1, limit=6, follow=1)
    assert [h.chunk.id for h in got] == [c.id for c in advantages[:6]]  # from the section's start, in order
    assert [h.score for h in got if h.chunk.id == third.id] == [1.0]
    assert all(h.chunk.headings[-1:] == ("优势",) for h in got)  # nothing of the next section

    narrow = index.with_sections([Hit(third, 1.0)], top=1, limit=2, follow=1)
    assert [h.chunk.id for h in narrow] == [advantages[1].id, third.id]  # from just before the hit

    below_top = index.with_sections([Hit(chunks[0], 1.0), Hit(third, 0.5)], top=0, limit=6, follow=1)
    assert [h.chunk.id for h in below_top] == [chunks[0].id, chunks[1].id, third.id, advantages[3].id]
