"""The corpus in every document format: retrieval quality, citation locations, ingest speed.

    .venv/bin/python bench/formats.py [--converted DIR] [--formats txt,pdf,docx,...] [--json OUT]

The five corpus articles converted by LibreOffice (``tests/fixtures/make_formats.py
--corpus DIR``, run on first use when DIR is missing) are ingested one format at a
time into a fresh index (real Chroma, the bundled embedder, default settings), and
the gold questions of eval/dev.jsonl are searched with the assistant's fusion.
English questions are searched as asked (no model translation), the same in every
format, so the plain-text row is the baseline of the same run.

Columns: hit@5 and MRR@10 (assistant.evaluation.metrics); "located": of the questions whose
evidence a retrieved chunk holds, the share whose first such chunk names a
page / slide / rows / section where the evidence really is, checked against the
file itself with other tools (poppler's pdftotext for a page; the slide's XML;
the CSV's rows; the heading in force in the cleaned plain text); units (pages,
slides or rows); pages read by OCR; seconds to read the files (parsing, OCR) and
to ingest them (reading, chunking, embedding, writing); units read per second.
A scanned page is compared with the text PDF it was rendered from, and its
evidence is matched after NFKC, since OCR reads the "," of Chinese text as "，".
"""

from __future__ import annotations

import argparse
import csv
import re
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
import zipfile
from pathlib import Path

from common import DEFAULT_DATA, ROOT, save, table

from assistant.config import Settings
from assistant.evaluation.metrics import hit_at, load_gold, reciprocal_rank
from index.search import Fusion, Index
from ingest import pipeline
from ingest.load import load_document
from ingest.pipeline import ingest

FORMATS = ["txt", "pdf", "docx", "pptx", "xlsx", "csv", "epub", "scanned", "scanned-no-ocr"]


def squash(text: str, nfkc: bool = False) -> str:
    text = unicodedata.normalize("NFKC", text) if nfkc else text
    return re.sub(r"\s+", "", text)


def first_rank(hits, evidence, nfkc: bool):
    wanted = [squash(e, nfkc) for e in evidence]
    for rank, h in enumerate(hits, 1):
        if any(w in squash(h.chunk.text, nfkc) for w in wanted):
            return rank, h.chunk
    return None, None


class Truth:
    """Where each piece of evidence really is in a converted file, read with tools other than ours."""

    def __init__(self, converted: Path):
        self.converted = converted
        self.cache: dict = {}

    def pdf_page(self, stem: str, page: int) -> str:
        key = ("pdf", stem, page)
        if key not in self.cache:
            pdf = self.converted / "pdf" / f"{stem}.pdf"
            self.cache[key] = subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), "-enc", "UTF-8", str(pdf), "-"],
                                             capture_output=True, text=True, check=True).stdout
        return self.cache[key]

    def slide(self, stem: str, n: int) -> str:
        with zipfile.ZipFile(self.converted / "pptx" / f"{stem}.pptx") as z:
            text = " ".join(re.findall(r"<a:t>([^<]*)</a:t>", z.read(f"ppt/slides/slide{n}.xml").decode()))
            rels = z.read(f"ppt/slides/_rels/slide{n}.xml.rels").decode()
            m = re.search(r'Target="\.\./notesSlides/(notesSlide\d+\.xml)"', rels)
            if m:
                text += " " + " ".join(re.findall(r"<a:t>([^<]*)</a:t>", z.read(f"ppt/notesSlides/{m.group(1)}").decode()))
        return text

    def rows(self, stem: str, first: int, last: int) -> str:
        with (self.converted / "csv" / f"{stem}.csv").open(encoding="utf-8", newline="") as f:
            return " ".join(" ".join(r) for i, r in enumerate(csv.reader(f), 1) if first <= i <= last)

    def section(self, stem: str, evidence: str) -> str | None:
        doc = load_document(ROOT / "corpus" / f"{stem}.txt", f"{stem}.txt")
        at = squash(doc.text).find(squash(evidence))
        if at < 0:
            return None
        pos = [i for i, c in enumerate(doc.text) if not c.isspace()][at]
        before = [h for h in doc.headings if h[0] <= pos]
        return before[-1][2] if before else None

    def located(self, fmt: str, chunk, evidence: tuple[str, ...]) -> bool | None:
        """None when the format has no location to check (plain text)."""
        stem, loc = Path(chunk.source).stem, dict(chunk.location)
        if fmt in ("pdf", "scanned"):
            text = " ".join(self.pdf_page(stem, p) for p in range(loc["page"], loc.get("page_end", loc["page"]) + 1))
        elif fmt == "pptx":
            text = " ".join(self.slide(stem, s) for s in range(loc["slide"], loc.get("slide_end", loc["slide"]) + 1))
        elif fmt in ("xlsx", "csv"):
            text = self.rows(stem, loc["row"], loc.get("row_end", loc["row"]))
        elif fmt in ("docx", "epub"):  # the heading in force where the evidence is: the chunk's, or one inside it
            sections = [self.section(stem, e) for e in evidence]
            return any(s in chunk.headings or f"{s}\n" in chunk.text for s in sections if s)
        else:
            return None
        return any(squash(e, True) in squash(text, True) for e in evidence)


def units(fmt: str, folder: Path) -> int:
    import pypdfium2 as pdfium

    if fmt.startswith("scanned") or fmt == "pdf":
        return sum(len(pdfium.PdfDocument(p)) for p in folder.glob("*.pdf"))
    if fmt == "pptx":
        return sum(sum(1 for n in zipfile.ZipFile(p).namelist() if re.match(r"ppt/slides/slide\d+\.xml$", n)) for p in folder.glob("*.pptx"))
    if fmt in ("xlsx", "csv"):
        return sum(sum(1 for _ in csv.reader(p.open(encoding="utf-8"))) for p in (folder.parent / "csv").glob("*.csv"))
    return 0


def run(fmt: str, converted: Path, gold, embedder, truth: Truth, settings: Settings) -> dict:
    folder = ROOT / "corpus" if fmt == "txt" else converted / fmt.replace("-no-ocr", "")
    ocr = fmt != "scanned-no-ocr"
    read_s = [0.0]

    def timed_load(*args, **kwargs):  # reading (parsing, OCR) as ingest does it, timed apart from embedding
        t = time.perf_counter()
        try:
            return load_document(*args, **kwargs)
        finally:
            read_s[0] += time.perf_counter() - t

    pipeline.load_document = timed_load
    fusion = Fusion(dense=settings.dense_weight, lexical=settings.lexical_weight)
    with tempfile.TemporaryDirectory() as tmp:
        index = Index(Path(tmp), embedder, chunker=f"bench:{settings.chunk_size}:{settings.chunk_overlap}")
        report = ingest(index, [folder], size=settings.chunk_size, overlap=settings.chunk_overlap, progress=False, ocr=ocr)
        ranks, located = {"zh": [], "en": []}, []
        for g in gold:
            if not g.evidence:
                continue
            rank, chunk = first_rank(index.search(g.question, 10, fusion), g.evidence, nfkc=fmt.startswith("scanned"))
            ranks[g.lang].append(rank)
            if chunk is not None:
                ok = truth.located(fmt.replace("-no-ocr", ""), chunk, g.evidence)
                if ok is not None:
                    located.append(ok)
        everything = ranks["zh"] + ranks["en"]
        n = units(fmt, folder)
        return {
            "format": fmt, "chunks": index.count(),
            "hit@5": statistics.mean(hit_at(r, 5) for r in everything),
            "hit@5 zh": statistics.mean(hit_at(r, 5) for r in ranks["zh"]),
            "MRR@10": statistics.mean(reciprocal_rank(r) for r in everything),
            "located": f"{sum(located)}/{len(located)}" if located else "—",
            "units": n or "—", "OCR pages": report.ocr_pages, "OCR skipped": report.ocr_skipped,
            "read s": round(read_s[0], 2), "ingest s": round(report.seconds, 1),
            "units/s read": round(n / read_s[0], 1) if n and read_s[0] else "—",
            "skipped": len(report.skipped),
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="the converted corpus goes in DATA/formats unless --converted says where")
    ap.add_argument("--converted", type=Path, help="the converted corpus (made on first use)")
    ap.add_argument("--formats", default=",".join(FORMATS))
    ap.add_argument("--questions", type=Path, default=ROOT / "eval" / "dev.jsonl")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    args.converted = args.converted or args.data_dir / "formats"
    if not (args.converted / "scanned").is_dir():
        print(f"converting the corpus into {args.converted} with LibreOffice…", file=sys.stderr)
        subprocess.run([sys.executable, str(ROOT / "tests" / "fixtures" / "make_formats.py"), "--corpus", str(args.converted)], check=True)
    from assistant.llm.models import default_embedder_path
    from index.embed import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder(default_embedder_path())
    gold, truth, settings = load_gold(args.questions), Truth(args.converted), Settings()
    rows = []
    for fmt in args.formats.split(","):
        rows.append(run(fmt, args.converted, gold, embedder, truth, settings))
        print(f"{fmt}: {rows[-1]}", file=sys.stderr, flush=True)
    base = rows[0]["hit@5"] if rows and rows[0]["format"] == "txt" else None
    for r in rows:
        r["vs txt"] = round(r["hit@5"] / base, 2) if base else "—"
        r["hit@5"], r["hit@5 zh"], r["MRR@10"] = (round(r[k], 3) for k in ("hit@5", "hit@5 zh", "MRR@10"))
    shown = [{k: f"{v:.3f}" if k in ("hit@5", "hit@5 zh", "MRR@10") else v for k, v in r.items()} for r in rows]
    print(table(shown, ["format", "chunks", "hit@5", "hit@5 zh", "MRR@10", "vs txt", "located", "units", "OCR pages", "OCR skipped",
                       "read s", "units/s read", "ingest s", "skipped"]))
    save(args.json, {"rows": rows})


if __name__ == "__main__":
    main()
