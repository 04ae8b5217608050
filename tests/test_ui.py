"""The web page's handlers, driven directly through the Blocks that build_app returns.

A real Assistant on a temporary data folder with the real models: one module-wide
page, so the model loads once, and only two questions are asked (one and its follow-up).
"""

from __future__ import annotations

import copy
import os
import socket
import stat
from html import escape

import pytest

from assistant.config import ConfigError
from assistant.result import Answer
from assistant.web import library, views
from index.search import Index

GOLD = "002_f02664d2df2309cc.txt"
QUESTION = "开源大模型的盈利通常建立在什么基础上？"
NOTE = "青松湖观测站建于2011年，位于北纬42度。观测站的主要任务是记录湖面结冰的日期。\n站长林晓雯每年冬天测量冰层厚度。\n"


class Request:
    """What the load handler reads of Gradio's request."""

    def __init__(self, accept_language: str):
        self.headers = {"accept-language": accept_language}


def handler(app, name: str):
    """The function wired to the event named ``name`` (Gradio keeps them in app.fns)."""
    return next(f.fn for f in app.fns.values() if f.api_name == name)


def run(gen) -> list:
    """Every output a streaming handler yields, as it was at that moment (it reuses its lists)."""
    return [copy.deepcopy(out) for out in gen]


# -- a page with the real models ---------------------------------------------------------


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("ui-data")


@pytest.fixture(scope="module")
def app(data_dir, gguf_path):
    from assistant import config
    from assistant.answer import Assistant
    from assistant.web.ui import build_app

    settings = config.load({"data_dir": data_dir, "model": gguf_path}, env={})
    assistant = Assistant(settings, progress=False)
    assistant.ensure_ingested()
    return build_app(assistant)


@pytest.fixture(scope="module")
def asked(app):
    """The outputs the ask handler yielded for one dev-set question: (question, chat, history, last, sources, status)."""
    return run(handler(app, "ask")(QUESTION, [], [], 4, 0.0, "zh"))


@pytest.mark.model
def test_load_follows_the_browser_language(app):
    load = handler(app, "load")
    zh = list(load(Request("zh-CN,zh;q=0.9,en;q=0.8")).values())
    en = list(load(Request("en-US,en;q=0.9")).values())
    assert zh[0] == "zh" and en[0] == "en"
    assert {"label": "文档库", "__type__": "update"} in zh and {"label": "Library", "__type__": "update"} in en
    library_html = next(v for v in en if isinstance(v, str) and 'class="library"' in v)
    assert "5 documents" in library_html and GOLD in library_html
    assert any(isinstance(v, str) and "sha256 `cc324af070c2" in v for v in en)  # the model's size and hash


@pytest.mark.model
def test_answer_streams_then_shows_checked_citations(asked):
    question_box, chat, _, _, _, _ = asked[0]
    assert question_box == "" and 'class="pending"' in chat[-1]["content"]
    streamed = [out[1][-1]["content"] for out in asked[1:-1]]
    assert len(streamed) >= 5, "tokens arrive one by one"
    # Before the model's first word: the sentence of the documents that answers, quoted and cited.
    assert 'class="preview"' in streamed[0] and "开源模型的盈利通常建立在服务和支持上。[1]" in streamed[0]
    assert all(len(a) <= len(b) for a, b in zip(streamed, streamed[1:]))

    _, chat, history, answer, sources, status = asked[-1]
    final = chat[-1]["content"]
    assert status == "" and not answer.refused
    assert [m["role"] for m in chat] == ["user", "assistant"] and history[0]["content"] == QUESTION
    assert '<details class="cite">' in final and GOLD in final and "<mark>" in final
    assert "检索得分" in final and "发送到网络 0 B" in final
    # Every [n] in the text opens passage n, and the highlighted sentence is in it.
    for c in answer.citations:
        assert f"[{c['n']}]" in answer.text
    marked = final.split("<mark>")[1].split("</mark>")[0]
    assert escape(answer.passages[answer.citations[0]["n"] - 1].text).count(marked) >= 1
    # The sources panel lists the retrieved passages in rank order.
    assert sources.count("<li>") == len(answer.hits) == 4
    scores = [h.score for h in answer.hits]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.model
def test_follow_up_question_uses_the_conversation(app, asked):
    _, chat, history, _, _, _ = asked[-1]
    chatbot = next(b for b in app.blocks.values() if getattr(b, "elem_id", None) == "chat")
    chat = chatbot.preprocess(chatbot.postprocess(chat))  # as the browser sends it back
    follow_up = "那闭源模型呢？"
    *_, (_, chat, history, answer, _, status) = run(handler(app, "ask")(follow_up, chat, history, 4, 0.0, "zh"))
    assert status == ""
    assert len(chatbot.postprocess(chat).root) == 4 and len(history) == 4
    assert answer.search_query != follow_up and "盈利" in answer.search_query  # rewritten with the first turn


@pytest.mark.model
def test_questions_queue_one_at_a_time_and_ingest_has_its_own_queue(app):
    def group(name):
        return {f.api_name for f in app.fns.values() if f.concurrency_id == name and f.concurrency_limit == 1}

    assert {"ask", "ask_1", "model"} <= group("questions")
    assert {"upload", "forget", "reingest"} <= group("library")  # ingesting does not hold up questions


@pytest.mark.model
def test_clear_forgets_the_conversation(app):
    chat, history, last, sources, status = handler(app, "clear")("en")
    assert chat == [] and history == [] and last is None and "Retrieved passages" in sources


@pytest.mark.model
def test_errors_are_shown_in_the_page_never_raised(app, monkeypatch):
    ask = handler(app, "ask")
    (_, _, _, _, _, status), = run(ask("   ", [], [], 4, 0.0, "en"))
    assert status == "Please type a question."

    def broken(*args, **kwargs):
        raise RuntimeError("llama.cpp fell over\nwith a second line")

    monkeypatch.setattr("assistant.answer.Assistant.ask", broken)
    *_, (_, chat, history, _, _, status) = run(ask("anything?", [], [], 4, 0.0, "en"))
    assert status == "Error: unexpected RuntimeError: llama.cpp fell over"
    assert 'class="error"' in chat[-1]["content"] and "Traceback" not in chat[-1]["content"] and history == []

    out = handler(app, "model")("/no/such/model.gguf", "en")
    assert any(isinstance(v, str) and v.startswith("Error: model file not found") for v in out.values())

    forget = handler(app, "forget")
    assert list(forget(None, "en").values()) == ["Choose a document to forget first."]
    assert "not in the library" in next(iter(forget("no-such.txt", "en").values()))


@pytest.mark.model
def test_upload_shows_in_library_then_forget_removes_it(app, data_dir, tmp_path, project_root):
    upload, forget = handler(app, "upload"), handler(app, "forget")
    note = tmp_path / "观测站笔记.md"
    note.write_text(NOTE, encoding="utf-8")
    again = tmp_path / "again.txt"  # a corpus article under another name
    again.write_bytes((project_root / "corpus" / GOLD).read_bytes())
    pdf = tmp_path / "scan.odt"
    pdf.write_bytes(b"PK\x03\x04")

    out = upload([str(note), str(again), str(pdf)], "zh")
    results = next(v for v in out.values() if isinstance(v, str) and 'class="results"' in v)
    assert "观测站笔记.md</code>: 已加入" in results
    assert f"again.txt</code>: 重复：内容与已有文档 {GOLD} 相同" in results
    assert "scan.odt</code>: 不支持的文件类型 .odt" in results
    library_html = next(v for v in out.values() if isinstance(v, str) and 'class="library"' in v)
    assert "观测站笔记.md" in library_html and "6 篇文档" in library_html

    saved = data_dir / "uploads" / "观测站笔记.md"
    assert saved.read_text(encoding="utf-8") == NOTE
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600 and stat.S_IMODE(saved.parent.stat().st_mode) == 0o700
    assert not note.exists(), "Gradio's temporary copy is removed once the file is kept"

    out = forget("观测站笔记.md", "zh")
    assert "已删除 观测站笔记.md" in out[next(iter(out))]
    library_html = next(v for v in out.values() if isinstance(v, str) and 'class="library"' in v)
    assert "观测站笔记.md" not in library_html and "5 篇文档" in library_html
    assert not saved.exists()


@pytest.mark.model
def test_reingest_reads_every_document_again(app):
    out = handler(app, "reingest")("en")
    assert "0 added, 0 replaced, 0 removed, 5 unchanged" in next(iter(out.values()))


@pytest.mark.model
def test_privacy_panel_shows_the_report(app):
    panel = handler(app, "privacy")("en")
    assert "Outbound connection guard" in panel and "Actually sent over the network</th><td>0 B" in panel
    assert "assistant purge" in panel


@pytest.mark.model
def test_any_gguf_in_the_models_folder_can_be_chosen(app, data_dir, gguf_path):
    choose = handler(app, "model")
    other = data_dir / "models" / "other.gguf"
    other.parent.mkdir(exist_ok=True)
    os.link(gguf_path, other)  # the same model under another name: a second file, no second gigabyte
    try:
        out = list(choose(str(other), "en").values())
        listed = next(v for v in out if not isinstance(v, str))
        assert ("other.gguf", str(other)) in listed.choices and listed.value == str(other)
        assert any(isinstance(v, str) and v.startswith("`other.gguf` · 1117 MB · sha256 `cc324af070c2") for v in out)
    finally:
        out = list(choose(str(gguf_path), "en").values())
    assert any(isinstance(v, str) and v.startswith(f"`{gguf_path.name}`") for v in out)


# -- pure parts: no GGUF -----------------------------------------------------------------


def test_answer_html_escapes_model_and_document_text():
    html = views.plain('见 ![x](https://example.com/t.png) <img src="https://example.com/a.png">\n第二行')
    assert "<img" not in html and "&lt;img" in html and "\n" not in html  # one HTML block: Markdown leaves it alone
    refused = Answer("q", "zh", "抱歉，所提供的文档中没有找到这个问题的答案。", True, [], [], {"total_ms": 900.0}, {},
                     privacy={"would_upload_bytes": 1200, "sent_bytes": 0})
    html = views.answer(refused, "zh")
    assert "文档中没有答案" in html and "<details" not in html and "发送到网络 0 B" in html


def test_while_the_model_writes_the_quotes_stand_above_its_words_escaped():
    html = views.streaming('开源模型<img src=x>的盈利建立在服务上。[1]', "", "zh")
    assert "资料原文" in html and "&lt;img" in html and "<img" not in html and html.count('class="plain"') == 1
    html = views.streaming("开源模型的盈利建立在服务上。[1]", "开源模型靠服务", "en")
    assert html.index("From the documents") < html.index("开源模型靠服务") and html.count('class="plain"') == 2
    assert views.streaming("", "开源模型靠服务", "zh") == views.plain("开源模型靠服务")


def test_supporting_sentence_is_the_one_sharing_most_words():
    passage = "开源模型鼓励合作。开源模型的盈利通常建立在服务和支持上。闭源模型靠许可证。"
    start, end = views.supporting_span(["开源模型的盈利建立在服务上"], passage)
    assert passage[start:end] == "开源模型的盈利通常建立在服务和支持上。"
    assert views.supporting_span(["Revenue comes from services"], passage) is None


@pytest.mark.parametrize("name, safe", [
    ("../../etc/passwd.md", "passwd.md"),
    ("..\\..\\boot.ini.txt", "boot.ini.txt"),
    (".bashrc.md", "bashrc.md"),
    ("季度 报告（草稿）.MD", "季度 报告（草稿）.md"),
    ("a<b>|c.html", "a_b_c.html"),
    ("...", "upload"),
])
def test_upload_names_stay_inside_the_uploads_folder(name, safe):
    assert library.safe_name(name) == safe


@pytest.mark.model  # the embedder fixture loads the real embedding model
def test_save_upload_refuses_big_and_unknown_files(tmp_path, embedder, monkeypatch):
    index = Index(tmp_path / "index", embedder, chunker="test")
    folder = tmp_path / "uploads"
    exe = tmp_path / "run.exe"
    exe.write_bytes(b"MZ")
    with pytest.raises(library.UploadRefused) as refused:
        library.save_upload(exe, folder, index)
    assert refused.value.key == "refused_type"
    big = tmp_path / "big.txt"
    big.write_text("字" * 100, encoding="utf-8")
    monkeypatch.setattr(library, "UPLOAD_LIMIT", 100)
    with pytest.raises(library.UploadRefused) as refused:
        library.save_upload(big, folder, index)
    assert refused.value.key == "refused_size"
    assert not folder.exists() or not any(folder.iterdir())


@pytest.mark.model  # the embedder fixture loads the real embedding model
def test_save_upload_never_follows_a_planted_link(tmp_path, embedder):
    index = Index(tmp_path / "index", embedder, chunker="test")
    folder = tmp_path / "uploads"
    folder.mkdir()
    outside = tmp_path / "outside.md"
    os.symlink(outside, folder / "note.md")
    src = tmp_path / "in" / "note.md"
    src.parent.mkdir()
    src.write_text("内容", encoding="utf-8")
    with pytest.raises(library.UploadRefused):
        library.save_upload(src, folder, index)
    assert not outside.exists()


def test_other_machines_need_a_password(capsys):
    from assistant.web.ui import credentials

    assert credentials("127.0.0.1", None) is None and credentials("localhost", None) is None
    with pytest.raises(ConfigError, match="--auth user:password"):
        credentials("0.0.0.0", None)
    with pytest.raises(ConfigError):
        credentials("0.0.0.0", "nopassword")
    assert credentials("0.0.0.0", "ann:s3cret:x") == ("ann", "s3cret:x")
    assert "warning: listening on 0.0.0.0" in capsys.readouterr().err


def test_a_busy_port_is_one_line_not_a_traceback():
    import gradio as gr

    from assistant.web.ui import launch
    from index.errors import Error

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with gr.Blocks() as app:
            gr.Markdown("x")
        with pytest.raises(Error, match=r"cannot listen on 127\.0\.0\.1:\d+: is another program using it"):
            launch(app, port=busy.getsockname()[1])


def test_ui_command_refuses_an_open_host_before_loading_anything(tmp_path, run_cli):
    code, out, err = run_cli("ui", "--host", "0.0.0.0", "--data-dir", tmp_path)
    assert code == 2
    assert err.startswith("error: --host 0.0.0.0 makes the page reachable") and err.count("\n") == 1
    assert not (tmp_path / "index").exists()


@pytest.mark.model
def test_a_session_chooses_its_knowledge_base_and_the_documents_to_answer_from(app, data_dir, tmp_path):
    from assistant import config, kb

    kb.create(config.load({"data_dir": data_dir}, env={}), "lake")
    note = tmp_path / "观测站笔记.md"
    note.write_text(NOTE, encoding="utf-8")
    other = tmp_path / "other.txt"
    other.write_text("图书馆每周一闭馆，其余日子上午九点开门。", encoding="utf-8")
    out = handler(app, "upload")([str(note), str(other)], "zh", "lake")
    results = next(v for v in out.values() if isinstance(v, str) and 'class="results"' in v)
    assert results.count("已加入") == 2
    assert (data_dir / "kb" / "lake" / "uploads" / "观测站笔记.md").is_file()  # the knowledge base's own uploads

    chosen = handler(app, "kb")("lake", "en")
    library_html = next(v for v in chosen.values() if isinstance(v, str) and 'class="library"' in v)
    assert "2 documents" in library_html and GOLD not in library_html
    assert [] in chosen.values() and chosen[next(c for c in chosen if getattr(c, "elem_id", "") == "scope")].value == []
    default_library = next(v for v in handler(app, "library")("en").values() if isinstance(v, str) and 'class="library"' in v)
    assert "观测站笔记.md" not in default_library and "5 documents" in default_library

    *_, (_, chat, _, answer, _, status) = run(handler(app, "ask")("青松湖观测站建于哪一年？", [], [], 4, 0.0, "zh", "lake", ["观测站笔记.md"]))
    assert status == "" and not answer.refused and "2011" in answer.text
    assert {h.chunk.source for h in answer.hits} == {"观测站笔记.md"}
    *_, (_, _, _, answer, _, _) = run(handler(app, "ask")("青松湖观测站建于哪一年？", [], [], 4, 0.0, "zh", None, None))
    assert answer.refused  # the default knowledge base does not hold it
    *_, (_, chat, _, _, _, status) = run(handler(app, "ask")("青松湖观测站建于哪一年？", [], [], 4, 0.0, "zh", "lake", ["gone.md"]))
    assert "no indexed document matches --source gone.md" in status
