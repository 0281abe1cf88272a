"""Running the mock: in a background thread (``MockServer``) or a subprocess (``MockProcess``).

Both bind a free port themselves and expose the same small admin client (``stats``,
``reset_stats``, outages, ``set_campaigns``) over the ``/__admin`` endpoints, so a test or a
benchmark can switch between them freely. Stopping first releases every hanging request, so a
server with hung connections still stops at once.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from types import FrameType, TracebackType
from typing import IO, Any, Self

import uvicorn

from mock_api.app import create_app
from mock_api.config import MockConfig, OutageMode
from mock_api.state import MockState

STARTUP_LINE_PREFIX = "mock_api listening on "
GRACEFUL_SHUTDOWN_S = 2.0
"""Backstop for requests still open after hangs are released (e.g. a sync mid-response)."""


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind and listen before uvicorn starts, so the real port is known for ``--port 0``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


class _UvicornServer(uvicorn.Server):
    """uvicorn, but a stop signal also releases hanging requests so shutdown never waits on them."""

    def __init__(self, config: uvicorn.Config, state: MockState) -> None:
        super().__init__(config)
        self._mock_state = state

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._mock_state.release_waiters()
        super().handle_exit(sig, frame)


def build_server(config: MockConfig) -> tuple[_UvicornServer, MockState]:
    app = create_app(config)
    state: MockState = app.state.mock
    uv_config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        timeout_keep_alive=5,
    )
    return _UvicornServer(uv_config, state), state


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""The mock is local: an ``http_proxy`` in the environment must not reroute admin calls."""


class _AdminClient:
    """The ``/__admin`` endpoints as methods (stdlib only: the mock needs no HTTP client lib)."""

    url: str

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with _DIRECT.open(request, timeout=10) as response:
            return json.loads(response.read())

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/__admin/stats")

    def reset_stats(self) -> None:
        self._call("POST", "/__admin/stats/reset")

    def start_outage(self, mode: OutageMode = "error") -> None:
        self._call("POST", "/__admin/outage", {"mode": mode})

    def stop_outage(self) -> None:
        self._call("DELETE", "/__admin/outage")

    def set_campaigns(self, client_id: str, campaigns: list[Any]) -> None:
        """Serve exactly these JSON values as the account's campaigns (for bad-data tests)."""
        self._call("PUT", f"/__admin/accounts/{client_id}/campaigns", campaigns)


class MockServer(_AdminClient):
    """The mock in a background thread on 127.0.0.1 and a free port; a context manager."""

    def __init__(self, config: MockConfig | None = None) -> None:
        self.config = config or MockConfig()
        self._server, self.state = build_server(self.config)
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> Self:
        self._sock = bind_socket("127.0.0.1", 0)
        self.url = url_of(self._sock, "127.0.0.1")
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="mock_api", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("mock_api server did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        self.state.release_waiters()
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=GRACEFUL_SHUTDOWN_S + 5)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class MockProcess(_AdminClient):
    """The mock as ``python -m mock_api --port 0 *args`` in a subprocess; a context manager.

    The request log (stderr) is discarded unless ``stderr`` names a file or stream to keep it.
    """

    def __init__(
        self,
        args: list[str] | None = None,
        *,
        env: dict[str, str] | None = None,
        stderr: IO[Any] | int | None = subprocess.DEVNULL,
        startup_timeout_s: float = 20.0,
    ) -> None:
        self.args = list(args or [])
        self._env = env
        self._stderr = stderr
        self._startup_timeout_s = startup_timeout_s
        self._process: subprocess.Popen[str] | None = None
        self.url = ""

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> Self:
        command = [sys.executable, "-m", "mock_api", "--port", "0", "--exit-with-parent"]
        command += self.args
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,  # never written: its end of file tells the mock we are gone
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env={**os.environ, **(self._env or {})},
        )
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(
            target=_drain, args=(self._process.stdout, lines), name="mock_api-stdout", daemon=True
        ).start()
        try:
            line = lines.get(timeout=self._startup_timeout_s)
        except queue.Empty:
            line = ""
        if not line.startswith(STARTUP_LINE_PREFIX):
            code = self._process.poll()
            self.stop()
            raise RuntimeError(f"mock_api process did not start (exit code {code}): {line!r}")
        self.url = line.removeprefix(STARTUP_LINE_PREFIX).strip()
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.stdin.close()  # type: ignore[union-attr]
        if process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=GRACEFUL_SHUTDOWN_S + 5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _drain(stream: IO[str] | None, lines: queue.Queue[str]) -> None:
    """Hand lines on and keep reading, so the child never blocks on a full pipe."""
    if stream is None:
        return
    for line in stream:
        lines.put(line)
    lines.put("")
