"""Egress guard: refuse every network connection from this process to a non-loopback address.

Why audit hooks (PEP 578): CPython's `_socket` C module raises an audit event before every
connect/connect_ex, sendto, sendmsg and name look-up, whoever the caller is (urllib3, httpx,
huggingface_hub, chromadb telemetry, gradio...), even code that captured `socket.socket` or
`socket.create_connection` before this module was imported. A hook that raises aborts the call
before the system call, so a refused look-up sends no DNS query. A hook cannot be removed, so it
consults module state; `uninstall()` only switches the checks off.

What it cannot see: native code that talks to the OS without Python's socket module (C++ inside
llama.cpp, a Rust extension, libcurl). That is why the project also runs its whole flow in a
network namespace with no interfaces; this guard is the in-process layer that says which library
tried. One CPython gap: `sock.connect(("name", port))` and `sock.sendto(data, ("name", port))`
resolve the name in C *before* the audit event, so that one look-up can leave (the connection is
still refused). `create_connection`/`getaddrinfo`, used by the usual clients, are refused first.

Events checked (those CPython 3.11 raises): socket.connect, socket.sendto, socket.sendmsg,
socket.getaddrinfo, socket.gethostbyname (also raised by gethostbyname_ex), socket.gethostbyaddr,
socket.getnameinfo. socket.bind sends nothing and is not checked.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import sys
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, NoReturn

from index.files import append_line

log = logging.getLogger("assistant.privacy.egress")

_DNS = frozenset({"socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr", "socket.getnameinfo"})
_REVERSE = frozenset({"socket.gethostbyaddr", "socket.getnameinfo"})  # these query DNS even for literals
_SEND = {"socket.connect": "connect", "socket.sendto": "sendto", "socket.sendmsg": "sendmsg"}
_CHECKED = _DNS | _SEND.keys()
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_LOCAL_FAMILIES = {socket.AF_UNIX, getattr(socket, "AF_NETLINK", socket.AF_UNIX)}  # never leave the machine
# Frames skipped when naming the library responsible: the stdlib plumbing between it and the socket.
_PLUMBING = ("socket", "ssl", "asyncio", "selectors", "concurrent.futures", "threading", "assistant.privacy.egress")


class EgressRefused(ConnectionRefusedError):
    def __init__(self, attempt: Attempt) -> None:
        what = {"dns": "DNS look-up of", "connect": "connection to"}.get(attempt.event, "datagram to")
        super().__init__(f"egress guard: refused {what} {attempt.target} (from {attempt.module}); "
                         "this assistant never sends data off the machine")
        self.attempt = attempt


@dataclass(frozen=True)
class Attempt:
    """One refused attempt: where to and who asked. Never any payload."""
    time: str
    event: str  # "connect", "dns", "sendto", "sendmsg"
    target: str  # host[:port]
    module: str  # first calling module outside the network plumbing
    stack: tuple[str, ...]  # last frames, outermost first, as "module:function:line"


def _norm(host: Any) -> str:
    """Lower-case name without trailing dot, or canonical IP (IPv4-mapped IPv6 as plain IPv4)."""
    h = (host.decode("ascii", "replace") if isinstance(host, bytes) else str(host)).strip().lower().rstrip(".")
    try:
        ip = ipaddress.ip_address(h.split("%", 1)[0])
    except ValueError:
        return h
    return str(ip.ipv4_mapped) if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped else str(ip)


def _is_ip(h: str) -> bool:
    try:
        ipaddress.ip_address(h)
    except ValueError:
        return False
    return True


def _loopback(h: str) -> bool:
    """A loopback literal or name; never "" or 0.0.0.0 (connecting there is not allowed)."""
    return ipaddress.ip_address(h).is_loopback if _is_ip(h) else h in _LOCAL_NAMES


def _split(entry: str) -> tuple[str, int | None]:
    """Parse an allowed entry: host, host:port, [v6]:port or a bare IPv6 literal."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest[1:]
    elif entry.count(":") == 1:
        host, _, port = entry.partition(":")
    else:
        host, port = entry, ""
    return _norm(host), int(port) if port else None


def _target(host: str, port: Any) -> str:
    shown = f"[{host}]" if ":" in host else host
    return shown if port in (None, "", 0) else f"{shown}:{port}"


@dataclass
class Guard:
    allowed: tuple[str, ...] = ()
    log_path: Path | None = None
    attempts: list[Attempt] = field(default_factory=list)
    _learned: set[tuple[str, int | None]] = field(default_factory=set, repr=False)  # IPs of allowed names

    @property
    def count(self) -> int:
        return len(self.attempts)

    def allows(self, host: str, port: Any = None) -> bool:
        rules = [_split(e) for e in self.allowed] + list(self._learned)
        return any(h == host and (p is None or port is None or p == port) for h, p in rules)

    def _learn(self, host: str) -> None:
        """An allowed *name* is checked at look-up; learn its addresses so the connect passes too."""
        ports = [p for h, p in map(_split, self.allowed) if h == host]
        try:
            addresses = {_norm(info[4][0]) for info in socket.getaddrinfo(host, None)}
        except OSError:
            return
        self._learned.update((a, p) for a in addresses for p in ports)

    def _record(self, attempt: Attempt) -> None:
        self.attempts.append(attempt)
        if self.log_path is None:
            return
        try:
            with _lock:
                append_line(self.log_path, json.dumps(asdict(attempt)))
        except OSError as exc:
            log.error("egress guard: cannot write %s: %s", self.log_path, exc)

    def refused_since_install(self) -> int:
        """Refusals in the log file (all lines it holds); 0 without a log; corrupt lines skipped."""
        if self.log_path is None:
            return 0
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return 0
        n = 0
        for line in lines:
            try:
                n += isinstance(json.loads(line), dict)
            except ValueError:
                continue
        return n


_lock = threading.RLock()
_local = threading.local()  # .busy: inside the hook on this thread (our own look-up, logging)
_guard: Guard | None = None
_active = False
_hooked = False


def _caller() -> tuple[str, tuple[str, ...]]:
    frames = []
    f = sys._getframe(1)
    while f is not None and len(frames) < 50:
        name = f.f_globals.get("__name__", "?")
        if name != __name__:
            frames.append((name, f.f_code.co_name, f.f_lineno))
        f = f.f_back
    outside = [n for n, _, _ in frames if not any(n == p or n.startswith(p + ".") for p in _PLUMBING)]
    if outside:
        module = outside[0]
    else:  # e.g. asyncio's getaddrinfo in an executor thread: the real caller is in another thread
        module = f"{frames[0][0] if frames else '?'} in thread {threading.current_thread().name}"
    return module, tuple(f"{n}:{fn}:{ln}" for n, fn, ln in reversed(frames[:6]))


def _quietly(fn: Callable[[], None]) -> None:
    """Run fn unless the hook is already busy on this thread: our own look-up or logging must not recurse."""
    if getattr(_local, "busy", False):
        return
    _local.busy = True
    try:
        fn()
    finally:
        _local.busy = False


def _refuse(guard: Guard, event: str, target: str) -> NoReturn:
    module, stack = _caller()
    attempt = Attempt(datetime.now(timezone.utc).isoformat(timespec="milliseconds"), event, target, module, stack)

    def record() -> None:
        guard._record(attempt)
        log.warning("egress guard refused %s %s (from %s)", event, target, module)

    _quietly(record)  # a nested refusal (say, a logging handler's socket) is refused but not recorded
    raise EgressRefused(attempt)


def _hook(event: str, args: tuple[Any, ...]) -> None:
    # Runs for every audit event in the process (imports, open, ...): leave fast.
    guard = _guard
    if not _active or guard is None or event not in _CHECKED:
        return
    if event in _DNS:
        sockaddr = event == "socket.getnameinfo"
        host = args[0][0] if sockaddr else args[0]
        port = args[0][1] if sockaddr else (args[1] if event == "socket.getaddrinfo" else None)
        h = "" if host is None else _norm(host)
        if h == "" or _loopback(h) or (h in ("0.0.0.0", "::") and event not in _REVERSE):  # "", ::, 0.0.0.0: bind
            return
        if guard.allows(h):
            if not _is_ip(h):
                _quietly(lambda: guard._learn(h))
            return
        _refuse(guard, "dns", _target(h, port))
    sock, address = args[0], args[1]
    if address is None or getattr(sock, "family", None) in _LOCAL_FAMILIES:
        return  # sendmsg on a connected socket (its connect was checked), AF_UNIX, netlink
    if isinstance(address, tuple) and address and isinstance(address[0], (str, bytes)):
        h, port = _norm(address[0]), address[1] if len(address) > 1 else None
        if _loopback(h) or guard.allows(h, port):
            return
        _refuse(guard, _SEND[event], _target(h, port))
    _refuse(guard, _SEND[event], repr(address))  # other families (packet, vsock, ...): fail closed


def install(allowed: tuple[str, ...] = (), log_path: Path | str | None = None) -> Guard:
    """Start refusing egress. Idempotent: the hook is added once; later calls update the settings."""
    global _guard, _active, _hooked
    with _lock:
        if _guard is None:
            _guard = Guard()
        _guard.allowed = tuple(allowed)
        _guard.log_path = Path(log_path) if log_path is not None else None
        _guard._learned.clear()
        if not _hooked:
            sys.addaudithook(_hook)
            _hooked = True
        _active = True
    return _guard


def current() -> Guard | None:
    return _guard if _active else None


def uninstall() -> None:
    """Switch the checks off (audit hooks cannot be removed). For tests."""
    global _active
    _active = False
