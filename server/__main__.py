"""``python -m slipstream.server``: the language server on stdio (``--stdio`` accepted), or ``--tcp HOST:PORT``.

Logs go to stderr and, once a client is connected, to window/logMessage; never to stdout, which is the
protocol's alone (``protect_stdout``).
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import signal
import sys


def setup_logging(level: str, server=None) -> None:
    """Logs go to stderr and, once the client is connected, to window/logMessage; never to stdout."""
    names = ("slipstream", "pygls")  # every module of ours logs under slipstream.*
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(logging.WARNING)
    stderr.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    handlers: list[logging.Handler] = [stderr]
    if server is not None:
        from slipstream.server.server import LspLogHandler

        lsp = LspLogHandler(server)
        lsp.setLevel(getattr(logging, level.upper(), logging.INFO))
        lsp.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        handlers.append(lsp)
    for handler in handlers:
        handler.addFilter(_routine_errors)
    for name in names:
        logger = logging.getLogger(name)
        logger.setLevel(logging.DEBUG if level.upper() == "DEBUG" else logging.INFO)
        logger.handlers = handlers
        logger.propagate = False
    logging.getLogger("pygls").setLevel(logging.WARNING)


def _routine_errors(record: logging.LogRecord) -> bool:
    """Drop pygls's tracebacks for requests answered as superseded or cancelled: that is the normal flow
    while typing (hundreds a minute), not an error."""
    exc = record.exc_info[1] if record.exc_info else None
    return type(exc).__name__ not in ("JsonRpcContentModified", "JsonRpcRequestCancelled")


def protect_stdout():
    """Keep a private handle on the real stdout for the protocol and point fd 1 at stderr.

    A stray print() or a C library writing to stdout would otherwise corrupt the JSON-RPC stream.
    """
    proto = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    return proto


def serve_main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m slipstream.server", description="Slipstream language server")
    parser.add_argument("--stdio", action="store_true", help="talk LSP over stdin/stdout (the default)")
    parser.add_argument("--tcp", metavar="HOST:PORT", help="listen on a TCP address instead of stdio")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    args = parser.parse_args(argv)
    # `kill -USR1` prints where every thread is to stderr (the log): what a server that will not exit is doing.
    if hasattr(signal, "SIGUSR1"):  # not on Windows
        faulthandler.register(signal.SIGUSR1, all_threads=True)

    from slipstream.server.server import create_server

    server = create_server()
    setup_logging(args.log_level, server)
    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        if not host or not port.isdigit():
            parser.error("--tcp takes HOST:PORT, e.g. 127.0.0.1:2087")
        server.start_tcp(host, int(port))
    else:
        proto = protect_stdout()
        server.start_io(sys.stdin.buffer, proto)


if __name__ == "__main__":
    serve_main()
