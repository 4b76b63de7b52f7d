"""``python -m server``: the language server on stdio (``--stdio`` accepted), or ``--tcp HOST:PORT``."""

from server.cli import serve_main

if __name__ == "__main__":
    serve_main()
