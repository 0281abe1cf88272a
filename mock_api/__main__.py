"""``python -m mock_api``: serve the mock and print where, for scripts and ``MockProcess``."""

from __future__ import annotations

import gc
import logging
import signal
import sys
import threading

import uvicorn

from mock_api.cli import parse_command_line
from mock_api.server import STARTUP_LINE_PREFIX, bind_socket, build_server, url_of


def main(argv: list[str] | None = None) -> int:
    config, exit_with_parent = parse_command_line(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        server, _state = build_server(config)
    except ValueError as exc:  # e.g. an unreadable or malformed accounts file
        print(f"mock_api: {exc}", file=sys.stderr)
        return 2
    try:
        sock = bind_socket(config.host, config.port)
    except OSError as exc:
        print(
            f"mock_api: cannot listen on {config.host}:{config.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 2
    # The catalogs and the app live as long as the process: exempt them from garbage collection.
    # A full collection stalls the event loop, and with it the moment requests are counted: in
    # the 100-account benchmark they took 24-69 ms with the start-up heap, 12-53 ms without it.
    gc.freeze()
    if exit_with_parent:
        threading.Thread(target=_stop_at_stdin_eof, args=(server,), daemon=True).start()
    print(STARTUP_LINE_PREFIX + url_of(sock, config.host), flush=True)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


def _stop_at_stdin_eof(server: uvicorn.Server) -> None:
    """Stop the server once stdin ends: the parent's end of the pipe closes when it exits in any
    way, SIGKILL included, so the mock never outlives the process that started it."""
    sys.stdin.buffer.read()
    server.handle_exit(signal.SIGTERM, None)


if __name__ == "__main__":
    sys.exit(main())
