"""`assistant serve`: the whole stack for a small team on one machine, and `--stop`.

Three processes, each listening on loopback unless told otherwise:

- a Chroma server, started with Chroma's own CLI (``chroma run --path DATA/chroma-server``);
- llama-cpp-python's OpenAI-compatible server (``python -m llama_cpp.server``) with the
  answer model, started with ``--interrupt_requests false`` so that concurrent questions
  queue instead of cutting each other off;
- the web page (assistant.web.ui), in this process, pointed at both.

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
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from assistant import servers
from assistant.config import Settings
from index.errors import Error
from index.files import replace_text
from index.store import clear_vector_files

READY_TIMEOUT = 180.0  # s: the model server reads a 1 GB GGUF first
STOP_TIMEOUT = 15.0  # s between SIGTERM and SIGKILL


@dataclass
class Child:
    name: str  # "chroma" or "llm"
    proc: subprocess.Popen
    url: str  # what clients on this machine use
    ready_url: str  # polled until it answers 200
    log: Path
    extra: dict

    def record(self) -> dict:
        return {"pid": self.proc.pid, "url": self.url, "log": str(self.log), **self.extra}


def _shown(host: str) -> str:
    return f"[{host}]" if ":" in host else host


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


def _start(name: str, command: list[str], log: Path, *, allowed: tuple[str, ...] = ()) -> subprocess.Popen:
    """Run ``command`` through ``python -m assistant.serve.stack child``: it asks the kernel to stop
    the child when this process dies, installs the egress guard for Python servers, then runs it."""
    log.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    wrapper = [sys.executable, "-m", "assistant.serve.stack", "child", ",".join(allowed) or "-", "--"]
    if command[0] == sys.executable and command[1] == "-m":
        wrapper += ["-m", *command[2:]]  # a Python module: run in the guarded interpreter
    else:
        wrapper += command  # a native program (Chroma's Rust server): exec'd
    env = dict(os.environ)  # already offline (privacy.go_offline) and contained in the data folder
    env["ANONYMIZED_TELEMETRY"] = "False"
    with open(log, "ab") as out:
        return subprocess.Popen(wrapper, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)  # Ctrl-C reaches us; we stop the children in order


def _tail(log: Path, n: int = 8) -> str:
    try:
        lines = [line for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    except OSError:
        return "(no log)"
    return "\n".join(lines[-n:])


def _check_port_free(what: str, host: str, port: int, flag: str) -> None:
    """A server already listening there would answer our readiness check in place of ours."""
    import socket

    try:
        with socket.create_connection((_local(host), port), timeout=1):
            pass
    except OSError:
        return
    raise Error(f"port {port} of {host} is already in use: the {what} needs another, e.g. {flag} {port + 1}")


def wait_ready(child: Child, timeout: float = READY_TIMEOUT) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0, trust_env=False) as http:
        while time.monotonic() < deadline:
            if child.proc.poll() is not None:
                raise Error(f"the {child.name} server exited with code {child.proc.returncode}; the end of {child.log}:\n{_tail(child.log)}")
            try:
                if http.get(child.ready_url).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
    raise Error(f"the {child.name} server did not answer at {child.ready_url} within {timeout:.0f} s; the end of {child.log}:\n{_tail(child.log)}")


def stop_process(proc_or_pid, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; a process that is already gone is fine."""
    if isinstance(proc_or_pid, subprocess.Popen):
        proc = proc_or_pid
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        return
    pid = int(proc_or_pid)
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as gone
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def _ours(pid: int, word: str) -> bool:
    """Whether ``pid`` still runs what we started (pids are reused); unknown off Linux: yes."""
    try:
        return word in Path(f"/proc/{pid}/cmdline").read_bytes().decode("utf-8", "replace")
    except OSError:
        return _alive(pid)


def _write_stack(settings: Settings, record: dict) -> None:
    replace_text(settings.data_dir / servers.STACK_FILE, json.dumps(record, indent=1))


def _running(settings: Settings) -> dict | None:
    stack = servers.read_stack(settings)
    if stack and _alive(int(stack.get("pid", 0))) and _ours(int(stack["pid"]), "serve"):
        return stack
    return None


def serve(settings: Settings, *, host: str, port: int, auth: str | None, chroma_host: str, chroma_port: int,
          llm_host: str, llm_port: int) -> int:
    from assistant.privacy import egress
    from assistant.web import ui
    from assistant.privacy.usage import egress_log

    with contextlib.redirect_stderr(io.StringIO()):  # the page repeats the warning when it starts
        ui.credentials(host, auth)  # a missing --auth fails now, before anything starts
    if (running := _running(settings)) is not None:
        raise Error(f"the stack of {settings.data_dir} is already running (pid {running['pid']}, {running.get('ui')}): "
                    "stop it with: assistant serve --stop")
    for name, h in (("Chroma", chroma_host), ("model", llm_host)):
        if servers.scope(h)[0] != "loopback":
            print(f"warning: the {name} server listens on {h}: it has no login, anyone who can reach it can read "
                  "and change what it holds", file=sys.stderr)
    start_chroma, start_llm = not settings.chroma_url, not settings.llm_url
    settings = replace(
        settings,
        chroma_url=settings.chroma_url or f"http://{_shown(_local(chroma_host))}:{chroma_port}",
        llm_url=settings.llm_url or f"http://{_shown(_local(llm_host))}:{llm_port}/v1",
    )
    # From here this process may reach exactly these (an address of this machine other than loopback included).
    egress.install(allowed=servers.allowed_hosts(settings), log_path=egress_log(settings))
    if start_chroma:
        _check_port_free("Chroma server", chroma_host, chroma_port, "--chroma-port")
    if start_llm:
        _check_port_free("model server", llm_host, llm_port, "--llm-port")
    _check_port_free("web page", host, port, "--port")
    logs = settings.logs_dir
    children: list[Child] = []
    previous = signal.signal(signal.SIGTERM, _interrupt)  # `serve --stop` ends us like Ctrl-C
    try:
        if start_chroma:
            path = settings.data_dir / "chroma-server"
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            url = settings.chroma_url
            proc = _start("chroma", chroma_command(path, chroma_host, chroma_port), logs / "chroma-server.log")
            children.append(Child("chroma", proc, url, url + "/api/v2/heartbeat", logs / "chroma-server.log", {"path": str(path)}))
        if start_llm:
            from assistant.llm.local import check_llama_build
            from assistant.llm.models import check_gguf, ensure_default_gguf

            check_llama_build()  # the server would die at its first long prompt
            if settings.model is None:
                model = ensure_default_gguf(settings.models_dir)  # assembled now the first time
            else:
                check_gguf(settings.model)
                model = settings.model
            url = settings.llm_url
            proc = _start("llm", llm_command(model, llm_host, llm_port, settings), logs / "llm-server.log",
                          allowed=(llm_host,) if servers.scope(llm_host)[0] != "loopback" else ())
            children.append(Child("model", proc, url, url + "/models", logs / "llm-server.log", {"model": str(model)}))
        for child in children:
            wait_ready(child)
            print(f"{child.name} server: {child.url}  (log {child.log})", file=sys.stderr, flush=True)
        _write_stack(settings, {
            "pid": os.getpid(), "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "ui": f"http://{_shown(_local(host))}:{port}", **{("llm" if c.name == "model" else c.name): c.record() for c in children},
        })
        return ui.serve(settings, host=host, port=port, auth=auth)
    finally:
        for child in reversed(children):
            stop_process(child.proc)
            if child.name == "chroma":  # stopped: nothing writes its files now
                with contextlib.suppress(OSError):  # hygiene; the other child must still be stopped
                    clear_vector_files(Path(child.extra["path"]))
        stack = servers.read_stack(settings)
        if stack and stack.get("pid") == os.getpid():
            (settings.data_dir / servers.STACK_FILE).unlink(missing_ok=True)
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def stop(settings: Settings) -> int:
    stack = servers.read_stack(settings)
    if stack is None:
        print(f"nothing to stop: no stack is running from {settings.data_dir}", file=sys.stderr)
        return 0
    pid = int(stack.get("pid", 0))
    if pid and _alive(pid) and _ours(pid, "serve"):
        stop_process(pid, timeout=STOP_TIMEOUT + 10)  # it stops its servers itself
    for name, word in (("llm", "llama_cpp"), ("chroma", "chroma")):
        child = stack.get(name) or {}
        if child.get("pid") and _alive(int(child["pid"])) and _ours(int(child["pid"]), word):
            stop_process(int(child["pid"]))  # left behind by a serve that was killed
            if child.get("path"):
                with contextlib.suppress(OSError):
                    clear_vector_files(Path(child["path"]))
    (settings.data_dir / servers.STACK_FILE).unlink(missing_ok=True)
    print(f"stopped the stack of {settings.data_dir} (web page {stack.get('ui')}, "
          f"{', '.join(n for n in ('chroma', 'llm') if n in stack) or 'no'} servers)")
    return 0


# -- the children's wrapper -------------------------------------------------------------


def _die_with_parent() -> None:
    """Linux: the kernel sends SIGTERM to this process when the one that started it dies,
    so a killed `assistant serve` leaves no server behind. Kept across exec."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            pass
        if os.getppid() == 1:  # the parent died before we asked
            sys.exit(1)


def child_main(argv: list[str]) -> int:
    """``python -m assistant.serve.stack child ALLOWED -- -m MODULE ARGS`` or ``... -- PROGRAM ARGS``."""
    allowed, sep, *command = argv
    if sep != "--" or not command:
        print("usage: python -m assistant.serve.stack child ALLOWED|- -- (-m MODULE | PROGRAM) ARGS...", file=sys.stderr)
        return 2
    _die_with_parent()
    if command[0] != "-m":
        os.execv(command[0], command)  # native: the guard cannot see into it; the environment is what we give
    import runpy

    from assistant.privacy import egress
    from assistant.privacy.offline import go_offline

    go_offline()
    egress.install(allowed=tuple(a for a in allowed.split(",") if a and a != "-"))
    sys.argv = [command[1], *command[2:]]
    runpy.run_module(command[1], run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["child"]:
        sys.exit(child_main(sys.argv[2:]))
    print("usage: python -m assistant.serve.stack child ...", file=sys.stderr)
    sys.exit(2)
