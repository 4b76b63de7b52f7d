"""A LanguageServerProtocol that answers every request and keeps its own document store."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import (
    JsonRpcException,
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcServerNotInitialized,
)
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

if TYPE_CHECKING:
    from slipstream.server.server import SlipstreamServer

log = logging.getLogger(__name__)


class SlipstreamProtocol(LanguageServerProtocol):
    _server: SlipstreamServer
    _received_initialize = False
    _exited = False  # 'exit' arrived: pygls closes the output, so nothing more can be sent

    def _refusal(self, method: Any) -> JsonRpcException | None:
        """Why a message may not be handled now: after ``shutdown`` or before ``initialize``."""
        if method in (types.INITIALIZE, types.EXIT):
            return None
        if self._shutdown:
            return JsonRpcInvalidRequest("the server is shutting down: only 'exit' is accepted")
        if not self._received_initialize:
            return JsonRpcServerNotInitialized("send 'initialize' first")
        return None

    def handle_message(self, message: Any) -> None:
        """Every request gets an answer: before ``initialize`` ServerNotInitialized, after ``shutdown``
        InvalidRequest (pygls drops both silently). Notifications then are dropped, as LSP says."""
        method = getattr(message, "method", None)
        msg_id = getattr(message, "id", None)
        if method == types.INITIALIZE:
            self._received_initialize = True
        elif method == types.EXIT:
            self._exited = True
        error = self._refusal(method) if method is not None else None
        if error is not None:
            if msg_id is not None:
                self._send_response(msg_id, error=error.to_response_error())
            return
        super().handle_message(message)

    def _send_data(self, data: Any) -> None:
        """Nothing is sent after 'exit'. What ends during the exit (an optimization's progress, a model
        load) used to write to the closed output; pygls logs each failed write, and the log went to the
        client as one more write: a loop that doubled and kept the server from exiting for over 10 s while
        a model loaded on a busy machine (tests/test_lsp_optimizer.py)."""
        if not self._exited:
            super()._send_data(data)

    def structure_message(self, data: dict[str, Any]):
        """pygls drops a request whose params fail to deserialize; answer it with the error instead."""
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if isinstance(data, dict) and "method" in data and isinstance(data.get("id"), (int, str)):
                err = self._refusal(data["method"]) or (
                    exc
                    if not isinstance(exc, JsonRpcInvalidParams)
                    else JsonRpcInvalidParams(f"invalid params for {data['method']!r}")
                )
                self._send_response(data["id"], error=err.to_response_error())
            raise

    # Document sync is handled by the server's own store (see server/documents.py); these replace
    # pygls's built-in handlers, which split lines the Python way rather than the LSP way.
    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams) -> None:
        self._server.on_did_open(params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams) -> None:
        self._server.on_did_change(params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams) -> None:
        self._server.on_did_close(params)
