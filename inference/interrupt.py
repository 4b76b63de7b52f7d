"""A cancelled request's suggestion stops within one node of the model's compute graph, not at its next token.

llama.cpp asks an abort callback after each node of a decode's graph; a decode it aborts returns 2 and takes
the positions of its batch out of the KV cache, so the model's memory is what it was before the call
(llama-cpp-python raises ``RuntimeError("llama_decode returned 2")`` and leaves ``n_tokens`` as it was).

The callback is C's ``strlen`` over a two-byte buffer ``[flag, NUL]``: it returns 0 or 1 in the register a
``bool`` comes back in, and it never takes Python's GIL. A Python callback would take the GIL hundreds of times
per decode, and wait for the event loop's thread whenever that holds it. ``CancelFlag.set()`` writes the flag
while the worker has attached the flag to the running request; without the callback (no C library found)
everything works as before: the engine checks the flag between tokens and prompt chunks. The engine attaches
the flag only once a request's prompt is in the KV cache (``Engine._interruptible_now``): a prompt chunk is
always finished, since the next keystroke's prompt needs it too.

Measured here (2 threads): a decode of 64 tokens (233 ms) stopped 0.8 ms after the flag was set, and the
logits after evaluating the same tokens again were identical.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from typing import Any

log = logging.getLogger(__name__)

ABORTED = "llama_decode returned 2"  # llama-cpp-python's error for a decode the callback stopped


class CancelFlag(threading.Event):
    """A request's cancel event that also stops the decode running for it, once attached to a model."""

    def __init__(self) -> None:
        super().__init__()
        self._guard = threading.Lock()
        self._abort: Any = None  # the model's flag buffer while this request runs

    def set(self) -> None:
        super().set()
        with self._guard:
            if self._abort is not None:
                self._abort[0] = 1

    def clear(self) -> None:
        super().clear()
        with self._guard:
            if self._abort is not None:
                self._abort[0] = 0

    def attach(self, abort: Any) -> None:
        with self._guard:
            self._abort = abort
            abort[0] = 1 if self.is_set() else 0

    def detach(self) -> None:
        with self._guard:
            if self._abort is not None:
                self._abort[0] = 0
            self._abort = None


def install(llama: Any) -> Any:
    """Give ``llama``'s context the abort callback; returns its flag buffer, or None where that cannot be done."""
    try:
        import llama_cpp

        strlen = ctypes.CDLL(None).strlen
        callback = ctypes.cast(ctypes.cast(strlen, ctypes.c_void_p).value, llama_cpp.ggml_abort_callback)
        flag = ctypes.create_string_buffer(2)
        llama_cpp.llama_set_abort_callback(llama._ctx.ctx, callback, ctypes.cast(flag, ctypes.c_void_p))
    except Exception as exc:  # another platform or binding: cancellation between tokens only
        log.info("decodes cannot be interrupted (%s); a cancelled request stops at its next token", exc)
        return None
    llama._slipstream_abort = (callback, flag)  # both must live as long as the context
    _quiet_abort_warnings(llama_cpp)
    return flag


_QUIET = b"removing memory module entries"  # llama.cpp's warning after each decode it stopped
_log_filter: list[Any] = []  # llama.cpp's logger is the process's: one filter, kept alive while it is set


def _quiet_abort_warnings(llama_cpp: Any) -> None:
    """Keep llama.cpp's one-line warning for every stopped decode out of stderr (the server's log): a fast
    typist stops a decode on most keystrokes. Every other message still goes to llama-cpp-python's logger."""
    if _log_filter:
        return
    try:
        from llama_cpp import _logger

        forward = _logger.llama_log_callback

        @llama_cpp.llama_log_callback
        def log_filter(level: int, text: bytes, user_data: Any) -> None:
            if not (text and _QUIET in text):
                forward(level, text, user_data)

        llama_cpp.llama_log_set(log_filter, ctypes.c_void_p(0))
        _log_filter.append(log_filter)
    except Exception as exc:  # another binding: the warnings stay
        log.info("llama.cpp's warnings for stopped decodes stay in stderr (%s)", exc)


def interrupted(exc: BaseException, cancel: threading.Event) -> bool:
    """Whether ``exc`` is a decode the abort callback stopped for a cancelled request."""
    return isinstance(exc, RuntimeError) and str(exc) == ABORTED and cancel.is_set()
