"""The servers `assistant serve` starts: run as children that die with it, waited for, stopped.

A child runs through ``python -m assistant.serve.children child``: the kernel stops it
when its parent dies (Linux), and a Python server runs under the egress guard.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from index.errors import Error

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


def start(name: str, command: list[str], log: Path, *, allowed: tuple[str, ...] = ()) -> subprocess.Popen:
    """Run ``command`` through ``python -m assistant.serve.children child``: it asks the kernel to stop
    the child when this process dies, installs the egress guard for Python servers, then runs it."""
    log.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    wrapper = [sys.executable, "-m", "assistant.serve.children", "child", ",".join(allowed) or "-", "--"]
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
            if not alive(pid):
                return
            time.sleep(0.1)


def alive(pid: int) -> bool:
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


def ours(pid: int, word: str) -> bool:
    """Whether ``pid`` still runs what we started (pids are reused); unknown off Linux: yes."""
    try:
        return word in Path(f"/proc/{pid}/cmdline").read_bytes().decode("utf-8", "replace")
    except OSError:
        return alive(pid)


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
    """``python -m assistant.serve.children child ALLOWED -- -m MODULE ARGS`` or ``... -- PROGRAM ARGS``."""
    allowed, sep, *command = argv
    if sep != "--" or not command:
        print("usage: python -m assistant.serve.children child ALLOWED|- -- (-m MODULE | PROGRAM) ARGS...", file=sys.stderr)
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
    print("usage: python -m assistant.serve.children child ...", file=sys.stderr)
    sys.exit(2)
