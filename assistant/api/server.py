"""`assistant api`: the API on its own; `assistant serve` runs it beside the page, sharing the model."""

from __future__ import annotations

import socket
import sys
import threading

import uvicorn

from assistant import keys, servers
from assistant.answer import Assistant
from assistant.api.app import build
from assistant.config import ConfigError, Settings
from assistant.web.engine import Engine
from index.errors import Error


def check(settings: Settings, host: str) -> None:
    """Off loopback the API answers other machines: refused without a key to ask for."""
    if keys.load(settings):
        return
    if not servers.loopback(host):
        raise ConfigError(f"--api-host {host} makes the API reachable from other machines, and there are no API keys: "
                          "make one first with: assistant api-key create --kb NAME")
    print("note: there are no API keys yet, so every request is refused (401); make one with: "
          "assistant api-key create --kb NAME", file=sys.stderr)


def _server(settings: Settings, engine: Engine, host: str, port: int) -> uvicorn.Server:
    # No access log: the paths of document calls carry document names.
    config = uvicorn.Config(build(settings, engine), host=host, port=port, log_level="warning", access_log=False,
                            server_header=False, date_header=False, lifespan="off")
    return uvicorn.Server(config)


def _bind_or_fail(host: str, port: int) -> None:
    try:
        with socket.create_server((host, port)):
            pass
    except OSError:
        raise Error(f"cannot listen on {host}:{port}: is another program using it? choose another with --api-port") from None


def url(host: str, port: int) -> str:
    return f"http://{servers.bracketed(host)}:{port}/v1"


def start(settings: Settings, engine: Engine, host: str, port: int) -> uvicorn.Server:
    """Serve on a thread of this process (beside the page); ``should_exit = True`` stops it."""
    check(settings, host)
    _bind_or_fail(host, port)
    server = _server(settings, engine, host, port)
    threading.Thread(target=server.run, name="api", daemon=True).start()
    print(f"assistant api: {url(host, port)}", file=sys.stderr, flush=True)
    return server


def serve(settings: Settings, *, host: str, port: int) -> int:
    """Load the index and the model once, then serve the API until Ctrl-C."""
    check(settings, host)
    _bind_or_fail(host, port)
    assistant = Assistant(settings)
    assistant.model_path()  # a bad --model fails now
    assistant.generator  # the first question should not wait for the model to load
    print(f"assistant api: {url(host, port)}  (Ctrl-C stops it)", file=sys.stderr, flush=True)
    _server(settings, Engine(assistant), host, port).run()
    return 0
