"""The command line, a front end beside the editor: ``slipstream serve | complete | demo | stats``.

``demo`` is an LSP client that drives the real server over stdio as an editor would; ``complete`` runs
the same completion pipeline without a server.
"""
