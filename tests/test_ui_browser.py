"""`assistant ui` in a real browser: Debian's Chromium, headless, driven by Playwright.

Two servers for the module (`assistant ui` on a free loopback port, temporary data
folder, the session's GGUF): one as a new user starts it, two questions; one once
API keys exist, whose logins each see their own knowledge base, two questions more. Every request each page makes
is recorded; a request to any host but the app's fails the test. Screenshots and
the measured timings are kept in test-artifacts/ui/.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright import sync_api as playwright

import teams
from teams import EXE

pytestmark = pytest.mark.model

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"  # Debian's package; .ci/run installs it
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = ROOT / "test-artifacts" / "ui"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
ANSWER_TIMEOUT_MS = 300_000  # a question takes 20-40 s here; a loaded CI machine may take much longer
NOTE_NAME = "青松湖观测站.md"
NOTE = """# 青松湖观测站

青松湖观测站建于2011年，位于北纬42度的青松湖北岸。
观测站的主要任务是记录湖面每年开始结冰和完全解冻的日期。
站长林晓雯每年冬天测量三次冰层厚度，并把数据整理成年度报告。
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dev_question(qid: str) -> dict:
    for line in (ROOT / "eval" / "dev.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["id"] == qid:
            return row
    raise LookupError(qid)


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


@contextlib.contextmanager
def _serving(data: Path, gguf_path: Path, *extra: str):
    """`assistant ui` as a user starts it, on a free loopback port; stopped however the tests end."""
    port = _free_port()
    log_path = data.parent / f"{data.name}-server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(EXE), "ui", "--port", str(port), "--data-dir", str(data), "--model", str(gguf_path), *extra],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 600  # first start ingests the corpus and loads both models
        while True:
            if proc.poll() is not None:
                pytest.fail(f"assistant ui exited with {proc.returncode}:\n{log_path.read_text(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"assistant ui did not answer on {url} within 600 s:\n{log_path.read_text(errors='replace')[-2000:]}")
            time.sleep(0.5)
        yield {"url": url, "host": f"127.0.0.1:{port}", "data": data}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory, gguf_path):
    with _serving(tmp_path_factory.mktemp("ui-browser-data"), gguf_path) as served:
        yield served


@pytest.fixture(scope="module")
def keyed(tmp_path_factory, gguf_path):
    """The page once API keys exist: knowledge bases lake and town, each made from its own folder;
    ann's key reaches lake, bob's reaches town and is read-only."""
    data = tmp_path_factory.mktemp("ui-keyed-data")
    docs = tmp_path_factory.mktemp("ui-keyed-docs")
    secrets = teams.make(data, docs)
    with _serving(data, gguf_path, "--kb", "lake") as served:
        yield served | {"keys": secrets}


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} not found: apt-get install chromium (.ci/run does)")
    # Its own short TMPDIR: Chromium aborts when its socket path passes the 108-byte limit,
    # which a TMPDIR deep inside pytest's folders can reach.
    env = {**os.environ, "TMPDIR": str(tmp_path_factory.mktemp("chromium"))}
    with playwright.sync_playwright() as p:
        try:
            chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, env=env)
        except playwright.Error as err:
            pytest.skip(f"chromium cannot be started: {str(err).splitlines()[0]}")
        yield chromium
        chromium.close()


@contextlib.contextmanager
def _visit(browser, server, name: str, login: tuple[str, str] | None = None):
    """A fresh session in Chinese at desktop size, logged in as ``login`` (name, key) when given;
    fails the test if the page reached any other host."""
    context = browser.new_context(locale="zh-CN", viewport=DESKTOP)
    seen: list[str] = []
    context.on("request", lambda r: seen.append(r.url))
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(server["url"])
    if login is not None:
        page.locator("input[type=text]").fill(login[0])
        page.locator("input[type=password]").fill(login[1])
        page.get_by_role("button", name="登录").click()
    page.wait_for_selector("#chat")
    yield page
    context.close()
    hosts = sorted({urlparse(u).netloc for u in seen if urlparse(u).scheme in ("http", "https", "ws", "wss")})
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"requests-{name}.json").write_text(json.dumps({"hosts": hosts, "requests": len(seen)}, indent=1))
    assert hosts == [server["host"]], f"the page made requests to other hosts: {hosts}"


@pytest.fixture
def page(browser, server, request):
    with _visit(browser, server, request.node.name) as page:
        yield page


def _shot(page, name: str, *, full: bool = True) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full)


def _tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def _ask(page, question: str) -> dict:
    """Ask through the page; seconds from the click to the first streamed token and to the finished answer."""
    before = page.locator("#chat .meta, #chat .error").count()
    page.fill("#question textarea", question)
    started = time.monotonic()
    page.click("#ask")
    # The placeholder shows until the first token replaces it; the meta line closes a finished answer.
    page.wait_for_function(
        """() => { const bots = document.querySelectorAll('#chat [data-testid="bot"]');
                   const last = bots[bots.length - 1];
                   return last && !last.querySelector('.pending') && last.innerText.trim().length > 0; }""",
        timeout=ANSWER_TIMEOUT_MS, polling=100,
    )
    first = time.monotonic() - started
    streaming = page.locator("#chat .meta, #chat .error").count() == before
    page.wait_for_function(
        f"() => document.querySelectorAll('#chat .meta, #chat .error').length > {before}",
        timeout=ANSWER_TIMEOUT_MS, polling=100,
    )
    total = time.monotonic() - started
    last = page.locator('#chat [data-testid="bot"]').last
    assert last.locator(".error").count() == 0, last.inner_text()
    return {"question": question, "first_token_s": round(first, 1), "total_s": round(total, 1), "streamed": streaming, "bot": last}


def test_page_loads_nothing_from_outside_and_switches_language(page, server):
    # The browser is told to refuse other origins, and the theme uses system fonts only.
    page.wait_for_selector('meta[http-equiv="Content-Security-Policy"]', state="attached")
    font = page.evaluate("getComputedStyle(document.querySelector('.gradio-container')).fontFamily")
    assert font.startswith("system-ui"), font
    assert page.get_by_role("tab", name="文档库").is_visible()  # zh-CN browser: Chinese labels

    _tab(page, "隐私")
    page.wait_for_selector("#privacy table")
    privacy = page.inner_text("#privacy")
    assert re.search(r"出站连接防护\s+开启", privacy) and re.search(r"本次运行拒绝的出站连接\s+0", privacy)
    assert re.search(r"实际发送到网络的数据\s+0 B", privacy)

    _tab(page, "设置")
    page.wait_for_selector("#model-info code")
    assert "cc324af070c2" in page.inner_text("#model-info")

    page.locator("#lang").get_by_text("English").click()
    page.get_by_role("tab", name="Library").wait_for()
    _tab(page, "Library")
    page.wait_for_selector("#library table")
    assert "5 documents" in page.inner_text("#library")


def test_question_streams_and_its_citation_opens_the_gold_passage(page, server):
    gold = _dev_question("dev06")
    source = gold["sources"][0]
    timing = _ask(page, gold["question"])
    assert timing["streamed"], "the answer appeared only when complete"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "timings.json").write_text(json.dumps({k: v for k, v in timing.items() if k != "bot"}, ensure_ascii=False, indent=1))
    print(f"\nquestion in the page: first token {timing['first_token_s']} s, answer {timing['total_s']} s")
    _shot(page, "chat-desktop")

    bot = timing["bot"]
    cites = bot.locator("details.cite")
    assert cites.count() >= 1, bot.inner_text()
    gold_cite = cites.filter(has_text=source).first
    assert gold_cite.count() == 1, f"no citation of {source}: {cites.all_inner_texts()}"
    summary = gold_cite.locator("summary")
    assert re.search(r"检索得分 0\.\d{3}", summary.inner_text())
    summary.click()
    passage = gold_cite.locator(".passage")
    passage.wait_for()
    from ingest.load import load_document

    document = _squash(load_document(ROOT / "corpus" / source, source).text)
    assert _squash(passage.inner_text()) in document
    highlighted = gold_cite.locator("mark").inner_text()
    assert highlighted and _squash(highlighted) in _squash(passage.inner_text())
    gold_cite.scroll_into_view_if_needed()
    _shot(page, "citation-desktop", full=False)

    sources = page.locator("#sources li")
    assert sources.count() == 4

    page.set_viewport_size(PHONE)
    page.wait_for_timeout(500)
    _shot(page, "chat-phone")
    gold_cite.scroll_into_view_if_needed()
    _shot(page, "citation-phone", full=False)


def test_uploaded_file_is_answered_from_then_forgotten(page, server, tmp_path):
    note = tmp_path / NOTE_NAME
    note.write_text(NOTE, encoding="utf-8")

    _tab(page, "文档库")
    page.wait_for_selector("#library table")
    page.set_input_files("#upload input[type=file]", str(note))
    page.locator("#upload-results li").filter(has_text=NOTE_NAME).wait_for()
    assert "已加入" in page.inner_text("#upload-results")
    page.locator("#library td").filter(has_text=NOTE_NAME).wait_for()
    _shot(page, "library-desktop")
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(500)
    _shot(page, "library-phone")
    page.set_viewport_size(DESKTOP)
    saved = server["data"] / "uploads" / NOTE_NAME
    assert saved.read_text(encoding="utf-8") == NOTE

    _tab(page, "对话")
    timing = _ask(page, "青松湖观测站建于哪一年？")
    bot = timing["bot"]
    assert bot.locator(".refused").count() == 0, bot.inner_text()
    assert "2011" in bot.locator(".plain").inner_text()
    assert bot.locator("details.cite").filter(has_text=NOTE_NAME).count() == 1

    _tab(page, "文档库")
    page.click("#document input")
    page.get_by_role("option").filter(has_text=NOTE_NAME).click()
    page.click("#forget")
    page.locator("#library-status").filter(has_text=f"已删除 {NOTE_NAME}").wait_for()
    assert NOTE_NAME not in page.inner_text("#library")
    assert not saved.exists()


def _offered(page) -> list[str]:
    """The knowledge bases the page's choice offers (the chosen one carries a check mark)."""
    page.click("#kb input")
    names = [text.replace("✓", "").strip() for text in page.get_by_role("option").all_inner_texts()]
    page.keyboard.press("Escape")
    return names


def test_each_login_sees_and_changes_only_the_knowledge_bases_its_key_reaches(browser, keyed, tmp_path):
    secrets = keyed["keys"]
    # Another user's key, or a made-up one, is no login.
    for password in (secrets["bob"], "pa-" + "x" * 43):
        refused = urllib.request.Request(f"{keyed['url']}login", data=f"username=ann&password={password}".encode(), method="POST")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(refused, timeout=10)
        assert err.value.code == 400

    with _visit(browser, keyed, "login-ann", ("ann", secrets["ann"])) as page:
        assert _offered(page) == ["lake"]
        bot = _ask(page, "红杉镇图书馆建于哪一年？")["bot"]  # only town holds it
        assert bot.locator(".refused").count() == 1, bot.inner_text()
        bot = _ask(page, "青岚湖观测站建于哪一年？")["bot"]
        assert bot.locator(".refused").count() == 0 and "2009" in bot.locator(".plain").inner_text(), bot.inner_text()
        assert bot.locator("details.cite").filter(has_text="观测站.md").count() == 1

    with _visit(browser, keyed, "login-bob", ("bob", secrets["bob"])) as page:
        assert _offered(page) == ["town"]
        _tab(page, "文档库")
        page.wait_for_selector("#library table")
        assert "图书馆.md" in page.inner_text("#library") and "观测站.md" not in page.inner_text("#library")
        note = tmp_path / "新书.md"
        note.write_text("新书到馆。\n", encoding="utf-8")
        page.set_input_files("#upload input[type=file]", str(note))
        page.locator("#library-status").filter(has_text="read-only").wait_for()
        assert "1 篇文档" in page.inner_text("#library")
    assert not (keyed["data"] / "kb" / "town" / "uploads").exists()
