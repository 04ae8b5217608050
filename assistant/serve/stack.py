"""`assistant serve`: the whole stack for a small team on one machine, and `--stop`.

Three processes, each listening on loopback unless told otherwise:

- a Chroma server, started with Chroma's own CLI (``chroma run --path DATA/chroma-server``);
- llama-cpp-python's OpenAI-compatible server (``python -m llama_cpp.server``) with the
  answer model, started with ``--interrupt_requests false`` so that concurrent questions
  queue instead of cutting each other off;
- the web page (assistant.web.ui), in this process, pointed at both, and beside it the
  assistant's own API (assistant.api), sharing the page's index and model.

The two servers are children of this process: they get its offline environment
(assistant.privacy.offline.OFFLINE_ENV, Chroma's telemetry off, TMPDIR and caches in the
data folder, umask 077), die with it (Linux: PR_SET_PDEATHSIG), and are stopped when
it ends, by Ctrl-C or by ``assistant serve --stop`` (which reads the pids from
DATA/serve.json). The model server also runs under the egress guard.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sys
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from assistant import servers
from assistant.config import Settings
from assistant.serve.children import STOP_TIMEOUT, Child, alive, ours, start, stop_process, wait_ready
from index.errors import Error
from index.files import replace_text
from index.store import clear_vector_files



def _local(host: str) -> str:
    """Where this machine reaches a server listening on ``host`` (0.0.0.0 and :: mean every address)."""
    return "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host


def chroma_command(path: Path, host: str, port: int) -> list[str]:
    exe = Path(sys.executable).with_name("chroma")
    if not exe.exists():
        import shutil

        found = shutil.which("chroma")
        if not found:
            raise Error("cannot find Chroma's `chroma` command: reinstall the assistant (pip install -e .)")
        exe = Path(found)
    return [str(exe), "run", "--path", str(path), "--host", host, "--port", str(port)]


def llm_command(model: Path, host: str, port: int, settings: Settings) -> list[str]:
    threads = str(settings.n_threads or os.cpu_count() or 1)  # as the in-process model
    return [
        sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", host, "--port", str(port),
        "--n_ctx", str(settings.n_ctx), "--n_threads", threads, "--n_threads_batch", threads,
        "--seed", str(settings.seed), "--interrupt_requests", "false", "--logits_all", "false",
        "--use_mlock", "false", "--verbose", "false",
    ]


def _check_port_free(what: str, host: str, port: int, flag: str) -> None:
    """A server already listening there would answer our readiness check in place of ours."""
    import socket

    try:
        with socket.create_connection((_local(host), port), timeout=1):
            pass
    except OSError:
        return
    raise Error(f"port {port} of {host} is already in use: the {what} needs another, e.g. {flag} {port + 1}")


def _write_stack(settings: Settings, record: dict) -> None:
    replace_text(settings.data_dir / servers.STACK_FILE, json.dumps(record, indent=1))


def _running(settings: Settings) -> dict | None:
    stack = servers.read_stack(settings)
    if stack and alive(int(stack.get("pid", 0))) and ours(int(stack["pid"]), "serve"):
        return stack
    return None


def serve(settings: Settings, *, host: str, port: int, auth: str | None, chroma_host: str, chroma_port: int,
          llm_host: str, llm_port: int, api_host: str, api_port: int) -> int:
    from assistant.api import server as api
    from assistant.privacy import egress
    from assistant.privacy.usage import egress_log
    from assistant.web import ui

    _preflight(settings, host, auth, chroma_host, llm_host, api_host)
    start_chroma, start_llm = not settings.chroma_url, not settings.llm_url
    settings = replace(
        settings,
        chroma_url=settings.chroma_url or f"http://{servers.bracketed(_local(chroma_host))}:{chroma_port}",
        llm_url=settings.llm_url or f"http://{servers.bracketed(_local(llm_host))}:{llm_port}/v1",
    )
    # From here this process may reach exactly these (an address of this machine other than loopback included).
    egress.install(allowed=servers.allowed_hosts(settings), log_path=egress_log(settings))
    if start_chroma:
        _check_port_free("Chroma server", chroma_host, chroma_port, "--chroma-port")
    if start_llm:
        _check_port_free("model server", llm_host, llm_port, "--llm-port")
    _check_port_free("web page", host, port, "--port")
    _check_port_free("API", api_host, api_port, "--api-port")
    children: list[Child] = []
    previous = signal.signal(signal.SIGTERM, _interrupt)  # `serve --stop` ends us like Ctrl-C
    try:
        if start_chroma:
            children.append(_start_chroma(settings, chroma_host, chroma_port))
        if start_llm:
            children.append(_start_llm(settings, llm_host, llm_port))
        for child in children:
            wait_ready(child)
            print(f"{child.name} server: {child.url}  (log {child.log})", file=sys.stderr, flush=True)
        _write_stack(settings, {
            "pid": os.getpid(), "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "ui": f"http://{servers.bracketed(_local(host))}:{port}", "api": api.url(_local(api_host), api_port), **{("llm" if c.name == "model" else c.name): c.record() for c in children},
        })
        return ui.serve(settings, host=host, port=port, auth=auth,
                        beside=lambda engine: api.start(settings, engine, api_host, api_port))
    finally:
        _stop_children(settings, children)
        signal.signal(signal.SIGTERM, previous)


def _preflight(settings: Settings, host: str, auth: str | None, chroma_host: str, llm_host: str, api_host: str) -> None:
    """Everything that can be refused before anything starts."""
    from assistant import keys
    from assistant.api import server as api
    from assistant.web import ui

    with contextlib.redirect_stderr(io.StringIO()):  # the page and the API repeat their warnings when they start
        ui.credentials(host, auth, with_keys=bool(keys.load(settings)))  # a missing --auth fails now, before anything starts
        api.check(settings, api_host)
    if (running := _running(settings)) is not None:
        raise Error(f"the stack of {settings.data_dir} is already running (pid {running['pid']}, {running.get('ui')}): "
                    "stop it with: assistant serve --stop")
    for name, h in (("Chroma", chroma_host), ("model", llm_host)):
        if servers.scope(h)[0] != "loopback":
            print(f"warning: the {name} server listens on {h}: it has no login, anyone who can reach it can read "
                  "and change what it holds", file=sys.stderr)


def _start_chroma(settings: Settings, host: str, port: int) -> Child:
    path = settings.data_dir / "chroma-server"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    log, url = settings.logs_dir / "chroma-server.log", settings.chroma_url
    proc = start("chroma", chroma_command(path, host, port), log)
    return Child("chroma", proc, url, url + "/api/v2/heartbeat", log, {"path": str(path)})


def _start_llm(settings: Settings, host: str, port: int) -> Child:
    from assistant.llm.llama import check_llama_build
    from assistant.llm.models import check_gguf, ensure_default_gguf

    check_llama_build()  # the server would die at its first long prompt
    if settings.model is None:
        model = ensure_default_gguf(settings.models_dir)  # assembled now the first time
    else:
        check_gguf(settings.model)
        model = settings.model
    log, url = settings.logs_dir / "llm-server.log", settings.llm_url
    proc = start("llm", llm_command(model, host, port, settings), log,
                 allowed=(host,) if servers.scope(host)[0] != "loopback" else ())
    return Child("model", proc, url, url + "/models", log, {"model": str(model)})


def _stop_children(settings: Settings, children: list[Child]) -> None:
    for child in reversed(children):
        stop_process(child.proc)
        if child.name == "chroma":  # stopped: nothing writes its files now
            with contextlib.suppress(OSError):  # hygiene; the other child must still be stopped
                clear_vector_files(Path(child.extra["path"]))
    stack = servers.read_stack(settings)
    if stack and stack.get("pid") == os.getpid():
        (settings.data_dir / servers.STACK_FILE).unlink(missing_ok=True)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def stop(settings: Settings) -> int:
    stack = servers.read_stack(settings)
    if stack is None:
        print(f"nothing to stop: no stack is running from {settings.data_dir}", file=sys.stderr)
        return 0
    pid = int(stack.get("pid", 0))
    if pid and alive(pid) and ours(pid, "serve"):
        stop_process(pid, timeout=STOP_TIMEOUT + 10)  # it stops its servers itself
    for name, word in (("llm", "llama_cpp"), ("chroma", "chroma")):
        child = stack.get(name) or {}
        if child.get("pid") and alive(int(child["pid"])) and ours(int(child["pid"]), word):
            stop_process(int(child["pid"]))  # left behind by a serve that was killed
            if child.get("path"):
                with contextlib.suppress(OSError):
                    clear_vector_files(Path(child["path"]))
    (settings.data_dir / servers.STACK_FILE).unlink(missing_ok=True)
    print(f"stopped the stack of {settings.data_dir} (web page {stack.get('ui')}, "
          f"{', '.join(n for n in ('chroma', 'llm') if n in stack) or 'no'} servers)")
    return 0


