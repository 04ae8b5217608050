"""The assistant's API as other programs use it: `assistant api` started on loopback over two
knowledge bases, called with the official openai client, curl and httpx."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

import teams
from assistant.prompt import REFUSAL
from teams import EXE


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def api(tmp_path_factory, gguf_path):
    """Two knowledge bases from two folders, a key for each (the second read-only), and the API
    serving them, started as a user starts it; stopped however the tests end."""
    data = tmp_path_factory.mktemp("api-data")
    docs = tmp_path_factory.mktemp("api-docs")
    ann, bob = teams.make(data, docs).values()
    port = _free_port()
    log = data.parent / "api-server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(EXE), "api", "--api-port", str(port), "--data-dir", str(data), "--model", str(gguf_path)],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 300
        while True:
            assert proc.poll() is None, f"assistant api exited with {proc.returncode}:\n{log.read_text(errors='replace')[-2000:]}"
            try:
                if httpx.get(f"{base}/models", headers={"Authorization": f"Bearer {ann}"}, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"assistant api did not answer within 300 s:\n{log.read_text(errors='replace')[-2000:]}"
            time.sleep(0.3)
        yield {"base": base, "data": data, "ann": ann, "bob": bob, "docs": docs, "refused": Counter(),
               "before": {kb: _documents(base, ann if kb == "lake" else bob, kb) for kb in ("lake", "town")}}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _documents(base: str, key: str, kb: str) -> list[dict]:
    r = httpx.get(f"{base}/kb/{kb}/documents", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def _client(api, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=api["base"], api_key=key, max_retries=0, timeout=300)


def _refused(api, r: httpx.Response, status: int, *words: str) -> dict:
    """A refused request: its status, an OpenAI-style error that says why, counted for the privacy report."""
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert all(w in error["message"] for w in words), error
    api["refused"][str(status)] += 1
    return error


def _post_chat(api, key: str, body, **kw) -> httpx.Response:
    content = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return httpx.post(f"{api['base']}/chat/completions", content=content, timeout=300,
                      headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"}, **kw)


def _question(text: str, kb: str = "lake") -> dict:
    return {"model": kb, "messages": [{"role": "user", "content": text}]}


@pytest.mark.model
def test_models_are_the_knowledge_bases_the_key_reaches(api):
    assert [m.id for m in _client(api, api["ann"]).models.list()] == ["lake"]
    assert [m.id for m in _client(api, api["bob"]).models.list()] == ["town"]


@pytest.mark.model
def test_a_streamed_answer_ends_with_checked_citations_while_extra_questions_are_told_to_wait(api):
    stream = _client(api, api["ann"]).chat.completions.create(
        model="lake", messages=[{"role": "user", "content": "青岚湖观测站位于海拔多少米？"}], stream=True)
    chunks = [next(stream)]  # the role: the question is admitted and the model is reading
    assert chunks[0].choices[0].delta.role == "assistant"

    # While it is answered, 50 more at once: 4 may wait their turn, the rest are told to retry.
    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(lambda _: _post_chat(api, api["ann"], _question("？？？")), range(50)))
    chunks += list(stream)
    statuses = Counter(r.status_code for r in answers)
    assert statuses == {200: 4, 429: 46}
    for r in answers:
        if r.status_code == 429:
            assert r.headers["retry-after"] == "5"
            _refused(api, r, 429, "waiting", "retry")
        else:
            assert r.json()["x_assistant"]["refused"] is True  # a question without words, refused as ever

    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    drafts = "".join((c.model_extra.get("x_assistant") or {}).get("draft", "") for c in chunks)
    final = chunks[-1].model_extra["x_assistant"]
    assert "3200" in content and "3200" in drafts  # the model's words came as drafts, the checked answer as content
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].usage.completion_tokens > 0
    assert final["refused"] is False and final["kb"] == "lake"
    assert final["citations"] and {c["source"] for c in final["citations"]} == {"观测站.md"}
    assert all(c["status"] in ("ok", "moved", "added") and c["end"] > c["start"] for c in final["citations"])


@pytest.mark.model
def test_curl_gets_a_cited_answer_from_its_own_knowledge_base(api):
    body = json.dumps(_question("红杉镇图书馆建于哪一年？", "town"), ensure_ascii=False)
    done = subprocess.run(["curl", "-sS", f"{api['base']}/chat/completions", "-H", f"Authorization: Bearer {api['bob']}",
                           "-H", "Content-Type: application/json", "-d", body], capture_output=True, text=True, timeout=300)
    reply = json.loads(done.stdout)
    assert reply["object"] == "chat.completion" and reply["model"] == "town"
    assert "1987" in reply["choices"][0]["message"]["content"]
    assert reply["x_assistant"]["refused"] is False
    assert [c["source"] for c in reply["x_assistant"]["citations"]] == ["图书馆.md"]


@pytest.mark.model
def test_a_question_answered_only_in_the_other_knowledge_base_is_refused(api):
    reply = _client(api, api["ann"]).chat.completions.create(
        model="lake", messages=[{"role": "user", "content": "红杉镇图书馆建于哪一年？"}])
    extra = reply.model_extra["x_assistant"]
    assert extra["refused"] is True and extra["refused_by"] in ("retrieval", "model", "checker")
    assert reply.choices[0].message.content == REFUSAL["zh"] and extra["citations"] == []
    assert "1987" not in reply.choices[0].message.content


@pytest.mark.model
def test_wrong_key_and_other_knowledge_bases_are_refused(api):
    with pytest.raises(openai.AuthenticationError) as wrong:
        _client(api, "pa-not-a-key").chat.completions.create(model="lake", messages=[{"role": "user", "content": "hi"}])
    assert "API key" in wrong.value.message
    api["refused"]["401"] += 1
    _refused(api, httpx.get(f"{api['base']}/models"), 401, "Authorization: Bearer")
    with pytest.raises(openai.PermissionDeniedError) as other:
        _client(api, api["ann"]).chat.completions.create(model="town", messages=[{"role": "user", "content": "红杉镇图书馆建于哪一年？"}])
    assert "does not reach" in other.value.message
    api["refused"]["403"] += 1
    with pytest.raises(openai.NotFoundError):
        _client(api, api["ann"]).chat.completions.create(model="nowhere", messages=[{"role": "user", "content": "hi"}])
    api["refused"]["404"] += 1
    _refused(api, httpx.get(f"{api['base']}/kb/town/documents", headers={"Authorization": f"Bearer {api['ann']}"}), 403)


@pytest.mark.model
def test_bad_requests_get_a_clear_error(api):
    ann = api["ann"]
    _refused(api, _post_chat(api, ann, b'{"model": "lake", "messages": ['), 400, "not JSON")
    _refused(api, _post_chat(api, ann, {"model": "lake"}), 400, "'messages'")
    _refused(api, _post_chat(api, ann, {"model": "lake", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}), 400, "text parts")
    _refused(api, _post_chat(api, ann, {**_question("q"), "temperature": "hot"}), 400, "temperature")
    _refused(api, _post_chat(api, ann, _question("长" * (10 << 20))), 413, "larger than")
    _refused(api, httpx.get(f"{api['base']}/nothing-here", headers={"Authorization": f"Bearer {ann}"}), 404, "no such call")


@pytest.mark.model
def test_upload_list_and_delete_with_the_pages_checks(api, tmp_path):
    ann, bob, base = api["ann"], api["bob"], api["base"]
    note = tmp_path / "冰层记录.md"
    note.write_text("# 冰层记录\n\n2023年冬天，青岚湖的冰层最厚处达到42厘米。\n", encoding="utf-8")

    def curl_upload(key: str, path: Path, kb: str = "lake", name: str | None = None) -> tuple[int, dict]:
        field = f"file=@{path}" + (f";filename={name}" if name else "")
        done = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", f"{base}/kb/{kb}/documents",
                               "-H", f"Authorization: Bearer {key}", "-F", field], capture_output=True, text=True, timeout=300)
        body, _, code = done.stdout.rpartition("\n")
        return int(code), json.loads(body)

    code, made = curl_upload(ann, note)
    assert code == 201 and made == {"source": "冰层记录.md", "outcome": "added", "chunks": made["chunks"]} and made["chunks"] >= 1
    assert "冰层记录.md" in [d["source"] for d in _documents(base, ann, "lake")]
    assert (api["data"] / "kb" / "lake" / "uploads" / "冰层记录.md").is_file()

    code, error = curl_upload(ann, note, name="again.md")
    assert code == 409 and "same content as 冰层记录.md" in error["error"]["message"]
    code, error = curl_upload(bob, note, kb="town")
    assert code == 403 and "not change" in error["error"]["message"]
    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * (11 << 20))
    code, error = curl_upload(ann, big)
    assert code == 413
    code, error = curl_upload(ann, tmp_path / "冰层记录.md", name="../../escaped.md")
    assert code == 409  # the same content: refused, and its name never leaves the uploads folder anyway
    odd = tmp_path / "odd.md"
    odd.write_text("湖边的气象塔高12米。\n", encoding="utf-8")
    code, made = curl_upload(ann, odd, name="../../escaped.md")
    assert code == 201 and made["source"] == "escaped.md"
    assert (api["data"] / "kb" / "lake" / "uploads" / "escaped.md").is_file() and not (api["data"] / "kb" / "escaped.md").exists()
    api["refused"].update({"409": 2, "403": 1, "413": 1})

    headers = {"Authorization": f"Bearer {ann}"}
    for raw in ("../../../etc/passwd", "%2e%2e/%2e%2e/manifest.json", "..%2F..%2Fmanifest.json"):
        done = subprocess.run(["curl", "-sS", "--path-as-is", "-X", "DELETE", "-o", "-", "-w", "\n%{http_code}",
                               f"{base}/kb/lake/documents/{raw}", "-H", f"Authorization: Bearer {ann}"],
                              capture_output=True, text=True, timeout=60)
        body, _, code = done.stdout.rpartition("\n")
        assert code in ("400", "404"), (raw, body)
        assert "error" in json.loads(body)
        api["refused"][code] += 1
    _refused(api, httpx.delete(f"{base}/kb/town/documents/图书馆.md", headers={"Authorization": f"Bearer {bob}"}), 403, "not change")
    for source in ("冰层记录.md", "escaped.md"):
        r = httpx.delete(f"{base}/kb/lake/documents/{source}", headers=headers, timeout=120)
        assert r.status_code == 200 and r.json()["chunks_removed"] >= 1
    _refused(api, httpx.delete(f"{base}/kb/lake/documents/冰层记录.md", headers=headers), 404, "no document")
    assert not (api["data"] / "kb" / "lake" / "uploads" / "冰层记录.md").exists()


@pytest.mark.model
def test_nothing_changed_and_every_refused_request_is_in_the_privacy_report(api):
    after = {kb: _documents(api["base"], api["ann"] if kb == "lake" else api["bob"], kb) for kb in ("lake", "town")}
    assert after == api["before"]
    report = json.loads(teams.cli(api["data"], "privacy", "--json"))
    counted = report["api_refused"]
    assert counted["by_status"] == {k: v for k, v in sorted(api["refused"].items()) if v}
    assert counted["since_install"] == sum(api["refused"].values())
    log = (api["data"] / "logs" / "api_refused.jsonl").read_text(encoding="utf-8")
    assert "pa-" not in log and "青岚湖" not in log and "passwd" not in log  # codes, never keys or text


def test_off_loopback_the_api_needs_keys(tmp_path):
    done = subprocess.run([str(EXE), "api", "--api-host", "0.0.0.0", "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith("error: --api-host 0.0.0.0 makes the API reachable")
    assert done.stderr.count("\n") == 1 and not (tmp_path / "index").exists()


def test_turns_admit_the_one_served_and_so_many_waiting_then_say_retry():
    from assistant.api.app import Refused, Turns

    uploads = Turns(2, "uploads are already waiting to be ingested")
    for _ in range(3):
        uploads.enter()
    with pytest.raises(Refused) as err:
        uploads.enter()
    assert err.value.status == 429 and err.value.message.startswith("2 uploads are already waiting")
    uploads.leave()
    uploads.enter()  # a turn freed is a turn taken
