"""ingest.load: decoding, cleaning rules, and the real corpus files after cleaning."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from index.errors import SkipFile
from ingest.clean import clean
from ingest.decode import read_text
from ingest.load import Document, load_document

CORPUS = Path(__file__).resolve().parent.parent / "corpus"

SAMPLE = "开源大模型与闭源大模型\n概述：开源模型的代码是公开的，任何人都可以使用。\nLLaMA 2 发布于2023年！\n"


def corpus_file(prefix: str) -> Path:
    (path,) = CORPUS.glob(prefix + "_*")
    return path


def load(prefix: str) -> Document:
    path = corpus_file(prefix)
    return load_document(path, path.name)


# --------------------------------------------------------------------------- encodings

@pytest.mark.parametrize(
    "data",
    [
        SAMPLE.encode("utf-8"),
        b"\xef\xbb\xbf" + SAMPLE.encode("utf-8"),
        SAMPLE.encode("gbk"),
        SAMPLE.encode("gb18030"),
        b"\xff\xfe" + SAMPLE.encode("utf-16-le"),
        b"\xfe\xff" + SAMPLE.encode("utf-16-be"),
        SAMPLE.encode("utf-16-le"),
        SAMPLE.encode("utf-16-be"),
        SAMPLE.encode("utf-32"),  # Python writes a BOM
        SAMPLE.replace("\n", "\r\n").encode("utf-8"),
        SAMPLE.replace("\n", "\r\n").encode("gbk"),
    ],
    ids=["utf8", "utf8-bom", "gbk", "gb18030", "utf16le-bom", "utf16be-bom", "utf16le", "utf16be", "utf32", "crlf", "gbk-crlf"],
)
def test_read_text_decodes_every_encoding_to_the_same_text(data):
    assert read_text(data) == SAMPLE


@pytest.mark.parametrize("enc", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom_mostly_chinese(enc):
    # "一" is U+4E00: in UTF-16 LE its NUL byte sits where ASCII's would in BE,
    # so NUL positions alone would pick the wrong byte order here.
    text = "一个一个最一般的一天。\n" + "开源大模型与闭源大模型各有优劣。" * 20 + "\n"
    assert read_text(text.encode(enc)) == text


def test_utf8_with_one_bad_byte_is_still_utf8():
    data = (SAMPLE * 20).encode("utf-8") + "开源".encode("utf-8")[:-1]
    assert read_text(data).startswith(SAMPLE)


@pytest.mark.parametrize(
    "data",
    [
        bytes(range(256)) * 10,
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\x00\x00\x01\x00\x08\x06\x00\x00\x00" + bytes(200),
        b"\x01\x02\x03\x04\x05\x06\x07\x08abc" * 50,
    ],
    ids=["all-bytes", "png", "controls"],
)
def test_binary_data_is_skipped_with_one_line(tmp_path, data):
    path = tmp_path / "x.txt"
    path.write_bytes(data)
    with pytest.raises(SkipFile) as err:
        load_document(path, "x.txt")
    msg = str(err.value)
    assert "binary" in msg or "not a text file" in msg
    assert "\n" not in msg


@pytest.mark.parametrize("content", [b"", b"   \n\n\t \r\n", "  \u3000\n".encode("utf-8")])
def test_empty_or_blank_file_is_skipped(tmp_path, content):
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    with pytest.raises(SkipFile) as err:
        load_document(path, "empty.txt")
    assert "empty" in str(err.value)
    assert "\n" not in str(err.value)


def test_html_with_nothing_visible_is_empty(tmp_path):
    path = tmp_path / "a.html"
    path.write_text("<html><head><title>t</title><script>var x = 1;</script></head><body><img src=a.png></body></html>")
    with pytest.raises(SkipFile, match="empty"):
        load_document(path, "a.html")


def test_unsupported_suffix_is_named(tmp_path):
    path = tmp_path / "report.odt"
    path.write_bytes(b"PK\x03\x04")
    with pytest.raises(SkipFile, match=r"\.odt"):
        load_document(path, "report.odt")


def test_unreadable_file_gives_os_reason(tmp_path):
    with pytest.raises(SkipFile) as err:
        load_document(tmp_path / "missing.txt", "missing.txt")
    assert "No such file" in str(err.value)
    assert "\n" not in str(err.value)
    with pytest.raises(SkipFile):
        load_document(tmp_path, "dir.txt")  # a directory: IsADirectoryError


def test_caller_supplied_bytes_and_hash(tmp_path):
    data = SAMPLE.encode("gbk")
    doc = load_document(tmp_path / "never-read.txt", "a/b.txt", data=data)
    assert doc.source == "a/b.txt"
    assert doc.doc_hash == hashlib.sha256(data).hexdigest()
    assert "任何人都可以使用" in doc.text


# --------------------------------------------------------------------------- formats

def check_headings(text: str, headings) -> None:
    """Every heading offset is the start of a line holding exactly the heading text."""
    for offset, level, title in headings:
        assert 1 <= level <= 6
        assert offset == 0 or text[offset - 1] == "\n"
        assert text[offset:].split("\n", 1)[0] == title
    assert [h[0] for h in headings] == sorted(h[0] for h in headings)


def test_markdown_headings_images_and_links():
    raw = (
        "# 大模型简介\n\n"
        "大模型是参数规模很大的神经网络。![示意图](img/arch.png)\n\n"
        "## 开源模型\n\n"
        "详见[LLaMA 论文](https://arxiv.org/abs/2302.13971)和 **Mistral**。\n\n\n\n"
        "![](cover.jpg)\n"
        "### 许可证 ###\n"
        "许可证限制了商业使用。\n"
        "```\n# not a heading\n```\n"
        "> 引用的一句话。\n"
        "[1]: https://example.com/ref\n"
        "…\n"
    )
    title, text, headings = clean(raw, markdown=True)
    assert title == "大模型简介"
    assert [(lv, t) for _, lv, t in headings] == [(1, "大模型简介"), (2, "开源模型"), (3, "许可证")]
    check_headings(text, headings)
    assert "详见LLaMA 论文和 Mistral。" in text
    assert "![" not in text and "](" not in text and "arxiv" not in text and "**" not in text
    assert "\n\n\n" not in text
    assert "# not a heading" in text
    assert text.endswith("# not a heading\n引用的一句话。")


def test_markdown_is_detected_in_txt_content():
    title, text, headings = clean("# 标题\n正文第一段。\n## 小节\n正文第二段。\n")
    assert title == "标题"
    assert [h[2] for h in headings] == ["标题", "小节"]


def test_html_blocks_inline_entities_and_dropped_elements():
    raw = """<!DOCTYPE html>
<html><head><title>页面标题</title><style>p { color: red }</style>
<link rel="stylesheet" href="a.css"><meta charset="utf-8"></head>
<body>
<nav>首页 | 关于</nav>
<h1>
  开源与闭源
</h1>
<p>
  开源模型
  <strong>
    允许
  </strong>
  自由修改&amp;分发。
</p>
<p>Open <a href="x">source</a> models are <em>free</em>.</p>
<svg><path d="M0 0"/><text>svg text</text></svg>
<script>alert("x")</script>
<ul><li>第一项</li><li>第二项</li></ul>
<h2>小节 <span>一</span></h2>
<p>第一行<br>第二行</p>
<img src="a.png" alt="在这里插入图片描述">
<footer>版权所有</footer>
</body></html>"""
    title, text, headings = clean(raw)
    assert title == "开源与闭源"
    assert text.split("\n") == [
        "开源与闭源",
        "开源模型允许自由修改&分发。",
        "Open source models are free.",
        "第一项",
        "第二项",
        "小节一",  # the space between two CJK characters goes
        "第一行",
        "第二行",
    ]
    assert [(lv, t) for _, lv, t in headings] == [(1, "开源与闭源"), (2, "小节一")]
    check_headings(text, headings)


def test_html_title_falls_back_to_title_element_never_to_a_paragraph():
    page = '<html><head><title>网页</title></head><body><svg><title>图标</title></svg><p>正文内容。</p></body></html>'
    title, text, _ = clean(page, html=True)
    assert title == "网页"
    assert text == "正文内容。"
    title, _, _ = clean("<p>第一段正文。</p><p>第二段。</p>", html=True)
    assert title == ""  # load_document names it by its file


def test_a_one_paragraph_document_is_titled_by_its_file_name(tmp_path):
    (tmp_path / "note_3.txt").write_text("市运动会于2021年5月8日开幕，吉祥物是一只小鹿，名叫福宝宝。它受到了广泛欢迎。\n", encoding="utf-8")
    (tmp_path / "short.txt").write_text("会议纪要\n市运动会于2021年5月8日开幕。\n", encoding="utf-8")
    assert load_document(tmp_path / "note_3.txt", "note_3.txt").title == "note_3"
    assert load_document(tmp_path / "short.txt", "short.txt").title == "会议纪要"


def test_front_matter_title_quoted_and_removed():
    raw = '---\ntitle: "前置标题"\ntags: [a, b]\n---\n正文第一行。\n'
    title, text, _ = clean(raw)
    assert title == "前置标题"
    assert text == "正文第一行。"


def test_plain_text_headings_toc_and_boilerplate():
    body = "这是一个足够长的段落，用来说明前面的短行是一个标题，而不是普通的句子。"
    raw = "\n".join([
        "当前位置: 首页 > news >正文",
        "文章标题",
        "目录",
        "引言", "方法", "结果", "讨论",
        "引言", body,
        "[图片]",
        "方法", body,
        "-",
        "结果", body,
        "https://example.com/a/b.html",
        "讨论", body + " -",
        "相关文章:",
        "  • 无关的标题一",
        "  • 无关的标题二",
    ])
    title, text, headings = clean(raw)
    assert title == "文章标题"
    lines = text.split("\n")
    assert lines.count("引言") == 1 and lines.count("讨论") == 1, "TOC removed"
    assert "目录" not in lines
    assert [(lv, t) for _, lv, t in headings] == [(1, "文章标题"), (2, "引言"), (2, "方法"), (2, "结果"), (2, "讨论")]
    check_headings(text, headings)
    for junk in ("当前位置", "图片", "https://", "相关文章", "无关的标题", "\n-\n"):
        assert junk not in text
    assert text.endswith("普通的句子。")


def test_plain_text_short_lines_with_punctuation_are_not_headings():
    raw = "标题\n第一段内容比较长，所以这是正文，不是标题。\n注意：\n- 列表项一\n短句。\n你好吗?\n这是结尾的一段比较长的正文内容。"
    _, _, headings = clean(raw)
    assert [t for _, _, t in headings] == ["标题"]


def test_related_header_near_the_top_is_kept():
    raw = "相关阅读\n" + "这是一段正文内容。" * 30
    _, text, _ = clean(raw)
    assert text.startswith("相关阅读")


# --------------------------------------------------------------------------- the real corpus

TITLES = {
    "000": "开源大模型与闭源大模型",
    "001": "大模型开源与闭源优势与挑战",
    "002": "002_f02664d2df2309cc",  # no heading: its first line is a paragraph, so the file name
    "003": "开源大模型与闭源大模型浅析",
    "004": "LLaMA系列一直在假装开源...",
}

EVIDENCE = {
    "000": ["企业的数据经常需要上传至供应商平台进行处理", "开源大模型和闭源大模型是两种常见的大模型类型", "透明度和可控性"],
    "001": ["技术成熟度", "开源大模型允许全球范围内的开发者共同参与", "1. 社区驱动的创新：开源大模型", "7.全球化协作"],
    "002": ["开源模式通过促进技术共享", "一、开源和闭源的优劣势比较", "闭源模型通过保持源代码的私密性"],
    "003": ["预训练模型的引入", "开源模型,如BERT和其变体", "未来的发展趋势可能会包括模型的可持续性"],
    "004": ["只开源了模型参数而已", "以Meta的LLaMA模型为例", "说到这吧,下课~"],
}

GONE = {
    "000": ["K-means", "ROS参数服务器", "相关文章", "FOPLP"],
    "001": ["<", "raphael", "二维码", "在这里插入图片描述", "layout: post", "csdnimg"],
    "002": [],
    "003": ["docker 命令", "当前位置", "相关文章", "lryc.cn", "Apple开发者"],
    "004": ["FortiGate", "当前位置", "相关文章", "kler.cn", "图片"],
}


@pytest.mark.parametrize("prefix", sorted(TITLES))
def test_corpus_file_is_cleaned(prefix):
    doc = load(prefix)
    assert doc.title == TITLES[prefix]
    text = doc.text
    assert text == text.strip() and "\n\n\n" not in text
    assert not re.search(r"<[a-zA-Z/!][^>]*>", text)
    for line in text.split("\n"):
        assert line == line.strip()
        assert not re.fullmatch(r"(https?://|www\.)\S+", line), line
        assert line not in {"图片", "[图片]", "-", "•"}
        assert not line.startswith(("当前位置", "您的位置"))
    assert "相关文章" not in text
    for sentence in EVIDENCE[prefix]:
        assert sentence in text, sentence
    for junk in GONE[prefix]:
        assert junk not in text, junk
    check_headings(text, doc.headings)


def test_corpus_headings():
    titles = {p: [h[2] for h in load(p).headings] for p in TITLES}
    assert {"概述", "商业应用", "开源大模型", "优势", "结论", "数据隐私"} <= set(titles["000"])
    assert titles["003"] == [
        "开源大模型与闭源大模型浅析", "引言", "技术发展背景", "早期语言模型",
        "预训练与微调的范式", "开源与闭源模型的兴起", "当前的技术前沿", "未来发展趋势",
    ]
    assert titles["001"][0] == "大模型开源与闭源：优势与挑战"
    assert "一、大模型开源的优势" in titles["001"]
    assert "技术层面的比较" in titles["004"] and "结论" in titles["004"]
    assert titles["002"][0] == "一、开源和闭源的优劣势比较"


def test_toc_removed_from_003():
    text = load("003").text
    # The TOC listed sections the body never reaches; they must not survive as lines.
    assert "闭源大模型的特点与优势" not in text
    assert text.split("\n").count("引言") == 1
