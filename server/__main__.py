"""``python -m slipstream.server``: the language server on stdio (``--stdio`` accepted), or ``--tcp HOST:PORT``."""

from slipstream.server.cli import serve_main

if __name__ == "__main__":
    serve_main()
