"""PDF, DOCX, PPTX, XLSX, CSV, EPUB and scanned pages: real files (made by LibreOffice,
tests/fixtures/make_formats.py), read by the real parsers and the real OCR model.

The readers are checked for what users complain about in other tools: running
headers and page numbers in the text, wrapped lines cut into fragments, lost
headings, lists and tables, slides without their notes, rows without their
column names, citations without a page; and every damaged or hostile file is
skipped with its one-line reason, without stopping the run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from index.errors import SkipFile
from index.search import Fusion, Index
from ingest.chunk import make_chunks
from ingest.formats import Options
from ingest.load import load_document
from ingest.forget import forget
from ingest.pipeline import ingest
from fakes import FakeEmbedder

FIXTURES = Path(__file__).parent / "fixtures" / "formats"


def load(name: str, **options):
    path = FIXTURES / name
    return load_document(path, path.name, options=Options(**options))


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_pdf_pages_without_running_headers_and_page_numbers():
    import pypdfium2 as pdfium

    doc = load("article.pdf")
    assert "内部资料" not in doc.text  # the running header of both pages
    assert not re.search(r"第\s*\d+\s*页", doc.text)  # the footer's page number
    # Wrapped lines are joined back: a sentence that LibreOffice broke across lines reads whole.
    [line] = [line for line in doc.text.split("\n") if "里程碑式的研究" in line]
    assert line.startswith("2018") and line.endswith("并推动了一系列先进模型的发展。")
    assert "技术发展背景" in [h[2] for h in doc.headings]
    chunks = make_chunks(doc, 200, 40)
    pages = {dict(c.location)["page"] for c in chunks}
    assert pages == {1, 2}
    pdf = pdfium.PdfDocument(FIXTURES / "article.pdf")
    for c in chunks:  # each chunk's first sentence is on the page the chunk names
        page = dict(c.location)["page"]
        first = squash(re.split(r"[。\n]", c.text)[0])[:12]
        assert first in squash(pdf[page - 1].get_textpage().get_text_bounded()), (page, c.text[:40])


def test_docx_headings_lists_and_tables():
    doc = load("people.docx")
    assert [(h[1], h[2]) for h in doc.headings] == [(1, "人员与分工"), (2, "工作约定"), (2, "成员名单")]
    assert "- 代码合并前需经评审" in doc.text  # a list item keeps its bullet
    assert "姓名: 张三；部门: 研发部；职位: 工程师；入职年份: 2019" in doc.text  # a table row with its header
    [row] = [c for c in make_chunks(doc, 60, 0) if "张三" in c.text]
    assert row.headings == ("人员与分工", "成员名单")  # the section path
    article = load("article.docx")
    assert article.title == "开源大模型与闭源大模型浅析"
    assert ("开源大模型与闭源大模型浅析", "技术发展背景") in {c.headings for c in make_chunks(article, 200, 40)}


def test_pptx_one_section_per_slide_with_speaker_notes():
    doc = load("article.pptx")
    chunks = make_chunks(doc, 200, 40)
    slides = [dict(c.location)["slide"] for c in chunks]
    assert slides == sorted(slides) and slides[0] == 1 and max(slides) == 8
    assert len(doc.headings) == 8 and doc.headings[2][2] == "技术发展背景"
    # The introduction's later paragraphs were put in the speaker notes of slide 2.
    [note] = [c for c in chunks if "以其代码的公开性和可访问性" in c.text]
    assert dict(note.location)["slide"] == 2 and note.headings == ("引言",)


@pytest.mark.parametrize("name, where", [("people.xlsx", (("sheet", "people"),)), ("people.csv", ())])
def test_spreadsheet_rows_are_read_with_their_column_headers(name, where):
    doc = load(name)
    assert "姓名: 张三；部门: 研发部；职位: 工程师；入职年份: 2019" in doc.text
    [chunk] = make_chunks(doc, 200, 40)
    assert chunk.location == (*where, ("row", 1), ("row_end", 5))
    [row] = [dict(c.location) for c in make_chunks(doc, 60, 0) if "王五" in c.text]
    assert row["row"] <= 4 <= row.get("row_end", row["row"])  # 王五 is on the spreadsheet's row 4


def test_a_sheet_of_prose_reads_each_row_as_a_section_under_its_title_row():
    doc = load("article.xlsx")
    assert doc.title == "开源大模型与闭源大模型浅析"  # the title row above the header row
    chunks = make_chunks(doc, 200, 40)
    [intro] = [c for c in chunks if c.text.startswith("章节: 技术发展背景")]
    assert intro.headings[-1] == "章节: 技术发展背景" and "内容: 大型预训练模型的技术起源于" in intro.text
    assert dict(intro.location)["row"] == 4  # title row 1, header row 2, 引言 3


def test_epub_sections_from_its_styled_headings():
    doc = load("article.epub")
    assert doc.title == "开源大模型与闭源大模型浅析"
    assert [h[2] for h in doc.headings][:3] == ["开源大模型与闭源大模型浅析", "引言", "技术发展背景"]
    assert "2018年,自然语言处理领域出现了一项里程碑式的研究" in doc.text


BAD = [
    ("bad/encrypted.pdf", "encrypted PDF: it needs a password to open; save a copy without one to ingest it"),
    ("bad/truncated.pdf", "not a readable PDF (Failed to load document (PDFium: Data format error).)"),
    ("bad/truncated.docx", "not a valid DOCX file (corrupt or not a zip archive: File is not a zip file)"),
    ("bad/password.docx", "password-protected DOCX file: save a copy without a password to ingest it"),
    ("bad/bomb.docx", r"refused as a zip bomb: 62,9\d\d,\d\d\d bytes unpacked from \d\d,\d\d\d bytes"),
    ("bad/no-tounicode.pdf", "no text to read without OCR: 1 page(s) are scans or use fonts without a character map, and OCR is off (run without --no-ocr)"),
    ("scanned.pdf", "no text to read without OCR: 1 page(s) are scans or use fonts without a character map, and OCR is off (run without --no-ocr)"),
]


@pytest.mark.parametrize("name, reason", BAD, ids=[b[0] for b in BAD])
def test_a_bad_file_is_skipped_with_its_one_line_reason(name, reason):
    with pytest.raises(SkipFile) as err:
        load(name, ocr=False)
    assert re.fullmatch(reason if "zip bomb" in reason else re.escape(reason), str(err.value)) and "\n" not in str(err.value)


@pytest.fixture
def index(tmp_path):
    return Index(tmp_path / "index", FakeEmbedder(), chunker="test")


def test_a_folder_of_good_and_bad_files_ingests_the_good_ones_and_names_the_bad(index, tmp_path):
    folder = tmp_path / "docs"
    shutil.copytree(FIXTURES, folder)
    (folder / "fake.pptx").write_text("不是演示文稿", encoding="utf-8")
    report = ingest(index, [folder], size=200, overlap=40, progress=False, ocr=False)
    skipped = {Path(p).name: why for p, why in report.skipped}
    assert set(skipped) == {Path(n).name for n, _ in BAD} | {"fake.pptx"}
    assert skipped["fake.pptx"].startswith("not a valid PPTX file")
    assert report.ocr_skipped == 2 and "2 scanned page(s) without a text layer skipped (OCR off)" in report.summary()
    good = {"article.pdf", "article.docx", "article.pptx", "article.xlsx", "article.csv", "article.epub", "people.docx", "people.xlsx", "people.csv"}
    assert set(report.added) == good
    stored = index.store.chunks()
    assert len(stored) == index.count() == report.chunks_added
    assert all(c.location for c in stored if c.source.endswith((".pdf", ".pptx", ".xlsx", ".csv")))
    # A row is found by a name and a column header, "张三 的 部门".
    hits = index.search("张三 的 部门", 3, Fusion(dense=0.0, lexical=1.0))
    assert "张三" in hits[0].chunk.text and hits[0].chunk.source.startswith("people.")
    again = ingest(index, [folder], size=200, overlap=40, progress=False, ocr=False)
    assert set(again.unchanged) == good and not again.added and not again.replaced
    n, _ = forget(index, "article.pdf")
    assert n and not index.chunks_of("article.pdf") and index.count() == len(stored) - n


def test_redaction_reaches_cells_before_anything_is_stored(index, tmp_path):
    import csv

    path = tmp_path / "客户.csv"
    with path.open("w", encoding="utf-8", newline="") as f:  # Python's csv module writes it
        csv.writer(f).writerows([("姓名", "手机", "邮箱"), ("张三", "13812345678", "zhangsan@corp.cn")])
    report = ingest(index, [path], size=200, overlap=40, progress=False, redact=True)
    assert report.redacted == {"phone": 1, "email": 1}
    [chunk] = index.store.chunks()
    assert "手机: [电话号码]" in chunk.text and "13812345678" not in chunk.text and "zhangsan@corp.cn" not in chunk.text


def test_a_500_page_pdf_and_the_per_file_time_limit(tmp_path):
    import pypdfium2 as pdfium

    src = pdfium.PdfDocument(FIXTURES / "article.pdf")
    big = pdfium.PdfDocument.new()
    big.import_pages(src, [0, 1] * 250)  # PDFium writes the 500 pages
    path = tmp_path / "big.pdf"
    big.save(path)
    doc = load_document(path, "big.pdf", options=Options())
    assert doc.marks[-1][1] == (("page", 500),) and "内部资料" not in doc.text
    with pytest.raises(SkipFile, match=r"^gave up at page 1 of 500: over the per-file time limit of 0 s$"):
        load_document(path, "big.pdf", options=Options(seconds=0))


def test_location_is_optional_metadata_so_old_indexes_keep_working(index):
    from index.store import _from_record, _to_meta
    from ingest.chunk import CHUNKER_VERSION

    txt = make_chunks(load_document(Path(__file__).parent.parent / "corpus" / "003_18313c85fb85a1ba.txt", "a.txt"), 200, 40)
    assert CHUNKER_VERSION == "1" and all(not c.location and "location" not in _to_meta(c) for c in txt)
    old = {k: v for k, v in _to_meta(txt[0]).items()}  # a record as the previous release wrote it
    assert _from_record(txt[0].id, txt[0].text, old) == txt[0]
    pdf = make_chunks(load("article.pdf"), 200, 40)
    assert _from_record(pdf[0].id, pdf[0].text, _to_meta(pdf[0])) == pdf[0]


def test_citations_name_the_page_in_json_and_on_the_console(capsys):
    from assistant.commands import _print_sources
    from assistant.result import where
    from ingest.location import label, merge

    assert where(("引言",), (("page", 3),)) == {"page": 3, "section": "引言", "location": "p. 3"}
    assert label(merge([(("page", 3),), (("page", 4),)])) == "pp. 3-4"
    assert label((("sheet", "名单"), ("row", 2), ("row_end", 9))) == "sheet 名单, rows 2-9"
    assert label((("slide", 5),)) == "slide 5"
    answer = SimpleNamespace(refused=False, lang="en", citations=[
        {"n": 1, "source": "report.pdf", "title": "报告", "start": 0, "end": 9, "snippet": "正文", "location": "p. 3"},
        {"n": 2, "source": "a.txt", "title": "文", "start": 5, "end": 9, "snippet": "正文"}])
    _print_sources(answer, sys.stdout)
    out = capsys.readouterr().out
    assert "[1] report.pdf p. 3 《报告》" in out and "[2] a.txt chars 5-9 《文》" in out


def test_the_upload_box_judges_new_types_by_their_content(index, tmp_path):
    from assistant.web.library import UploadRefused, save_upload

    uploads = tmp_path / "uploads"
    assert save_upload(FIXTURES / "article.pdf", uploads, index).read_bytes() == (FIXTURES / "article.pdf").read_bytes()
    fake = tmp_path / "fake.pdf"
    fake.write_text("只是文本", encoding="utf-8")
    for path, why in ((fake, "not a PDF file"), (FIXTURES / "bad" / "bomb.docx", "zip bomb"),
                      (FIXTURES / "bad" / "password.docx", "password-protected")):
        with pytest.raises(UploadRefused, match=why):
            save_upload(path, uploads, index)
    assert sorted(p.name for p in uploads.iterdir()) == ["article.pdf"]


def test_ocr_models_are_the_installed_package_files():
    from importlib import metadata

    from ingest import ocr

    site = Path(metadata.distribution(ocr.DISTRIBUTION).locate_file(""))
    paths = ocr.model_paths()  # raises unless each file's sha256 is the pinned one
    assert set(paths) == {"det", "rec", "cls"}
    assert all(site in p.parents and p.suffix == ".onnx" for p in paths.values())


def _no_network() -> list[str]:
    if not shutil.which("unshare") or subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode:
        pytest.skip("the kernel refuses a network namespace here")
    return ["unshare", "-n", "--"]


@pytest.mark.model
def test_scanned_pages_are_read_by_ocr_offline_and_no_ocr_counts_them(tmp_path, embedder):
    """`assistant ingest` of a scan with no network at all: --no-ocr skips the page and says
    so; the next run OCRs it (the bundled models, nothing fetched) and its text is searchable."""
    from assistant.answer import chunker_id
    from assistant.config import Settings

    prefix = _no_network()
    data = tmp_path / "data"
    exe = str(Path(sys.executable).parent / "assistant")
    env = {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(Path(__file__).parent.parent)}
    skip = subprocess.run([*prefix, exe, "ingest", "--data-dir", str(data), "--no-ocr", str(FIXTURES / "scanned.pdf")],
                          capture_output=True, text=True, env=env, timeout=600)
    assert skip.returncode == 0, skip.stderr[-2000:]
    assert "1 scanned page(s) without a text layer skipped (OCR off)" in skip.stdout
    assert "scanned.pdf: no text to read without OCR" in skip.stderr
    run = subprocess.run([*prefix, exe, "ingest", "--data-dir", str(data), str(FIXTURES / "scanned.pdf")],
                         capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "1 added" in run.stdout and "1 scanned page(s) read by OCR" in run.stdout
    assert "egress guard refused" not in run.stderr + skip.stderr
    index = Index(data / "index", embedder, chunker=chunker_id(Settings()))
    chunks = index.chunks_of("scanned.pdf")
    text = squash("".join(c.text for c in chunks))
    assert "开源大模型与闭源大模型浅析" in text and "预训练模型" in text
    assert {c.location for c in chunks} == {(("page", 1),)}


@pytest.mark.model
def test_ask_json_cites_the_page(run_cli, tmp_path, gguf_path):
    data = tmp_path / "data"
    code, _, err = run_cli("ingest", "--data-dir", data, FIXTURES / "article.pdf")
    assert code == 0, err
    code, out, err = run_cli("ask", "--json", "--data-dir", data, "--model", gguf_path, "2018年自然语言处理领域出现了什么里程碑式的研究？")
    assert code == 0, err
    import json

    answer = json.loads(out)
    assert answer["citations"], answer
    for c in answer["citations"]:
        assert c["source"] == "article.pdf" and c["page"] in (1, 2) and c["location"].startswith("p")
    assert all("page" in r for r in answer["retrieved"])


def test_the_cited_pdf_page_is_shown_rendered_here_with_the_passage_marked(index, tmp_path):
    import io

    import pypdfium2 as pdfium
    from PIL import Image, ImageChops

    from assistant.web import library
    from assistant.web import views
    from index.types import Hit
    from assistant.prompt import Passage

    pdf = tmp_path / "article.pdf"
    shutil.copy(FIXTURES / "article.pdf", pdf)
    ingest(index, [pdf], size=200, overlap=40, progress=False)
    [chunk] = [c for c in index.chunks_of("article.pdf") if "里程碑式的研究" in c.text]
    page = dict(chunk.location)["page"]
    passage = Passage((Hit(chunk, 1.0),), chunk.text, chunk.start, chunk.end)
    citation = {"n": 1, "source": "article.pdf", "title": chunk.title, "page": page, "location": f"p. {page}"}
    marked = Image.open(io.BytesIO(library.page_image(index, citation, passage))).convert("RGB")
    plain = pdfium.PdfDocument(pdf)[page - 1].render(scale=1.3).to_pil().convert("RGB")

    def yellow(img):
        r, g, b = img.split()
        return ImageChops.multiply(ImageChops.multiply(r.point(lambda v: 255 * (v > 200)), g.point(lambda v: 255 * (v > 170))),
                                   b.point(lambda v: 255 * (v < 140)))

    assert marked.size == plain.size and yellow(plain).getbbox() is None
    box = yellow(marked).getbbox()  # the marked span: a band of the page, not the whole of it
    assert box and (box[3] - box[1]) < 0.3 * plain.height
    answer = SimpleNamespace(text="预训练模型的引入是里程碑[1]。", citations=[citation], passages=[passage], hits=[passage.hits[0]])
    html = views.citations(answer, "zh", lambda c, p: library.page_image(index, c, p))
    assert '<img class="page" alt="p. 2" src="data:image/jpeg;base64,' in html and "p. 2</span>" in html
    pdf.write_bytes((FIXTURES / "people.docx").read_bytes())  # the file changed since: its pages may have moved
    assert library.page_image(index, citation, passage) is None
