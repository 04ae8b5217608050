"""The assistant's own HTTP API, OpenAI-compatible where OpenAI has the call:

  POST   /v1/chat/completions              a checked, cited answer (``model`` names the knowledge base)
  GET    /v1/models                        the knowledge bases the key reaches
  GET    /v1/kb/{kb}/documents             its documents
  POST   /v1/kb/{kb}/documents             upload one (multipart field ``file``), same checks as the page
  DELETE /v1/kb/{kb}/documents/{source}    forget one, text wiped as `assistant forget` does

Every request needs an API key (assistant.keys) as ``Authorization: Bearer KEY``. A refused
request gets an OpenAI-style error body and is counted, without its text, in the privacy report.
Answers are made one at a time (one model); a few wait their turn, more get 429.
"""

from __future__ import annotations

import json
import queue
import tempfile
import threading
from pathlib import Path, PurePosixPath

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from assistant import keys
from assistant.api import completions
from assistant.config import Settings
from assistant.kb import exists
from assistant.privacy.usage import record_refused_request
from assistant.web import library
from assistant.web.engine import Engine

CHAT_LIMIT = 1 << 20  # bytes of a chat request: far more than any question; the retriever reads the first 2,000 characters
UPLOAD_SLACK = 64 << 10  # the multipart envelope around an upload of at most library.UPLOAD_LIMIT
WAITING = 4  # questions that may wait behind the one being answered; more are told to retry
KEEPALIVE_S = 10  # a stream waiting for its turn sends an SSE comment this often, so no proxy or client gives up


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class Turns:
    """Requests admitted: the one served and ``waiting`` more; beyond that, 429."""

    def __init__(self, waiting: int, what: str = "questions are already waiting for the model"):
        self.room, self.waiting, self.what = waiting + 1, waiting, what
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            if self.room == 0:
                raise Refused(429, "busy", f"{self.waiting} {self.what}: retry in a few seconds")
            self.room -= 1

    def leave(self) -> None:
        with self._lock:
            self.room += 1


class Api:
    def __init__(self, settings: Settings, engine: Engine):
        self.settings, self.engine = settings, engine
        self.turns = Turns(WAITING)
        # An upload is held in memory until its turn: at most this many, so their size stays bounded.
        self.uploads = Turns(WAITING, "uploads are already waiting to be ingested")
        self.library = threading.Lock()  # one upload or deletion at a time, as in the page's library queue

    # -- checks ---------------------------------------------------------------------------

    def key(self, request: Request) -> keys.Key:
        scheme, _, secret = request.headers.get("authorization", "").partition(" ")
        # Read on every request (a small file): a key revoked or made meanwhile counts at once.
        key = keys.find(keys.load(self.settings), secret.strip()) if scheme.lower() == "bearer" else None
        if key is None:
            raise Refused(401, "invalid_api_key", "missing or unknown API key: send Authorization: Bearer KEY "
                          "(make one with: assistant api-key create --kb NAME)")
        return key

    def kb(self, key: keys.Key, name: str, *, write: bool = False):
        if not exists(self.settings, name):
            raise Refused(404, "unknown_kb", f"no knowledge base {name!r} (GET /v1/models lists those this key reaches)")
        try:
            key.allow(name, write=write)
        except keys.NotAllowed as err:
            raise Refused(403, err.code, str(err)) from None
        return self.engine.of(name)

    @staticmethod
    async def body(request: Request, limit: int) -> bytes:
        """The request body, refused (413) as soon as it passes ``limit``, declared or not."""
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise Refused(413, "too_large", f"the request is larger than {limit // 1024} KB")
        data = bytearray()
        async for piece in request.stream():
            data += piece
            if len(data) > limit:
                raise Refused(413, "too_large", f"the request is larger than {limit // 1024} KB")
        request._body = bytes(data)  # so request.form() parses what was read here
        return request._body

    # -- chat -----------------------------------------------------------------------------

    async def chat(self, request: Request):
        key = self.key(request)
        try:
            asked = completions.read(json.loads(await self.body(request, CHAT_LIMIT)))
        except ValueError as err:  # completions.BadRequest, or JSON that does not parse
            raise Refused(400, "bad_request", str(err) if isinstance(err, completions.BadRequest) else f"the body is not JSON: {err}") from None
        self.kb(key, asked["kb"])
        self.turns.enter()
        cid = completions.new_id()
        if asked["stream"]:
            events = self._events(asked, cid, *self._start(asked))
            return StreamingResponse(events, media_type="text/event-stream", headers={"Cache-Control": "no-store"})
        try:
            answer = await run_in_threadpool(self._answer, asked, None)
        finally:
            self.turns.leave()
        return JSONResponse(completions.completion(answer, asked["kb"], cid))

    def _answer(self, asked: dict, on_token):
        temperature = asked["temperature"]
        with self.engine.answering:
            view = self.engine.for_question(self.settings.temperature if temperature is None else float(temperature), asked["kb"])
            return view.ask(asked["question"], history=asked["history"], on_token=on_token)

    def _start(self, asked: dict) -> tuple[queue.Queue, dict]:
        """Answer on a worker thread, which hands the model's words over a queue (None: done) and
        gives up the question's turn when it ends, whether or not anyone still listens."""
        pieces: queue.Queue = queue.Queue()
        outcome: dict = {}

        def work() -> None:
            try:
                outcome["answer"] = self._answer(asked, pieces.put)
            except Exception as err:
                outcome["error"] = _one_line(err)
            finally:
                self.turns.leave()
                pieces.put(None)

        threading.Thread(target=work, name="api-answer", daemon=True).start()
        return pieces, outcome

    @staticmethod
    def _events(asked: dict, cid: str, pieces: queue.Queue, outcome: dict):
        """SSE: the role at once, the model's words as drafts beside the content, then the checked answer."""
        kb = asked["kb"]
        yield _sse(completions.chunk(cid, kb, {"role": "assistant", "content": ""}))
        while True:
            try:
                piece = pieces.get(timeout=KEEPALIVE_S)
            except queue.Empty:
                yield ": waiting for the model\n\n"
                continue
            if piece is None:
                break
            yield _sse(completions.draft(cid, kb, piece))
        if "error" in outcome:
            yield _sse({"error": {"message": outcome["error"], "type": "server_error", "code": "server_error"}})
            return
        for chunk in completions.closing(outcome["answer"], kb, cid):
            yield _sse(chunk)
        yield "data: [DONE]\n\n"

    # -- knowledge bases ------------------------------------------------------------------

    async def models(self, request: Request):
        key = self.key(request)
        names = [n for n in self.engine.kb_names() if key.reaches(n)]
        return JSONResponse({"object": "list", "data": [
            {"id": n, "object": "model", "created": 0, "owned_by": "private-assistant", "read_only": key.read_only} for n in names]})

    async def documents(self, request: Request):
        assistant = self.kb(self.key(request), request.path_params["kb"])
        rows = await run_in_threadpool(library.rows, assistant.index)
        return JSONResponse({"object": "list", "data": [vars(r) for r in rows]})

    async def upload(self, request: Request):
        assistant = self.kb(self.key(request), request.path_params["kb"], write=True)
        self.uploads.enter()
        try:
            await self.body(request, library.UPLOAD_LIMIT + UPLOAD_SLACK)
            try:
                form = await request.form(max_files=1, max_fields=4)
            except HTTPException as err:  # a malformed multipart body, or more than one file
                raise Refused(400, "bad_request", f"not a usable multipart form: {err.detail}") from None
            file = form.get("file")
            if not isinstance(file, UploadFile) or not file.filename:
                raise Refused(400, "bad_request", "send the document as the multipart field 'file' (curl -F file=@report.pdf)")
            data = await file.read()
            return await run_in_threadpool(self._ingest, assistant, file.filename, data)
        finally:
            self.uploads.leave()

    def _ingest(self, assistant, filename: str, data: bytes):
        with tempfile.TemporaryDirectory() as tmp, self.library:  # tmp lies in the data folder (privacy.contain)
            src = Path(tmp) / library.safe_name(filename)
            src.write_bytes(data)
            try:
                saved = library.save_upload(src, assistant.settings.uploads_dir, assistant.index)
            except library.UploadRefused as err:
                status = {"refused_size": 413, "duplicate": 409, "clash": 409}.get(err.key, 400)
                raise Refused(status, err.key, str(err)) from None
            report = assistant.ingest([saved])
        if report.skipped:  # save_upload's checks passed but the parser could not read it: keep nothing
            saved.unlink(missing_ok=True)
            raise Refused(422, "unreadable", f"{saved.name}: {report.skipped[0][1]}")
        outcome = "added" if report.added else "replaced" if report.replaced else "unchanged"
        return JSONResponse({"source": saved.name, "outcome": outcome, "chunks": report.chunks_added}, status_code=201)

    async def forget(self, request: Request):
        assistant = self.kb(self.key(request), request.path_params["kb"], write=True)
        source = request.path_params["source"]
        parts = PurePosixPath(source).parts
        if "\\" in source or source.startswith("/") or ".." in parts or "." in parts:
            raise Refused(400, "bad_source", f"{source!r} is not a document name (GET /v1/kb/NAME/documents lists them)")
        if source not in assistant.index.documents():
            raise Refused(404, "unknown_document", f"no document {source!r} in {request.path_params['kb']!r}")

        def forget():
            with self.library:
                return assistant.forget(source)

        return JSONResponse({"source": source, "chunks_removed": await run_in_threadpool(forget)})


def _sse(obj: dict) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


def _one_line(err: Exception) -> str:
    return f"{type(err).__name__}: {err}".splitlines()[0]


def _error(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": code, "code": code}}, status_code=status, headers=headers)


def build(settings: Settings, engine: Engine) -> Starlette:
    api = Api(settings, engine)

    async def refused(request: Request, err: Refused):
        record_refused_request(settings, err.status, err.code)
        return _error(err.status, err.code, err.message, {"Retry-After": "5"} if err.status == 429 else None)

    async def not_routed(request: Request, err: HTTPException):
        record_refused_request(settings, err.status_code, "no_route")
        return _error(err.status_code, "no_route", f"{request.method} {request.url.path}: no such call (see README, The API)")

    async def failed(request: Request, err: Exception):
        return _error(500, "server_error", _one_line(err))

    routes = [
        Route("/v1/chat/completions", api.chat, methods=["POST"]),
        Route("/v1/models", api.models, methods=["GET"]),
        Route("/v1/kb/{kb}/documents", api.documents, methods=["GET"]),
        Route("/v1/kb/{kb}/documents", api.upload, methods=["POST"]),
        Route("/v1/kb/{kb}/documents/{source:path}", api.forget, methods=["DELETE"]),
    ]
    return Starlette(routes=routes, exception_handlers={Refused: refused, HTTPException: not_routed, Exception: failed})
