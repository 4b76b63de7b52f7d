"""A GGUF file's header and metadata, read without loading the model: what model discovery shows.

Guarantees:
- Only the header is read: the key/value metadata and the tensor descriptions after it. The tensor data (the
  weights) is never read; the file's size alone says whether all of it is there.
- Bounded: every declared count and length is checked against the bytes left in the file (and the limits
  below) before it is used, so a corrupt header cannot make the reader allocate or read gigabytes; at most
  ``MAX_HEADER`` bytes are read, and strings longer than ``KEEP_STRING`` are skipped unread, so about two
  read-ahead windows (2 * ``CHUNK``) are held at a time (2.0 MiB at peak for Gemma 3's 6.5 MB of metadata).
- The vocabulary (``tokenizer.ggml.tokens``, up to a few hundred thousand strings) is streamed: only tokens short
  enough to be a FIM marker are compared, none is kept. Gemma 3's whole header (262,144 tokens) reads in about
  0.07 s here.
- FIM is decided as llama.cpp decides it (llama-vocab.cpp in the llama.cpp that llama-cpp-python ships, which
  inference/model.py asks through ``llama_vocab_fim_pre/suf/mid``): a marker's metadata id if it is below the
  vocabulary size, else a token whose text is one of the known marker texts; the model has FIM only with all
  three markers (inference/fim.py ``fim_from_ids``). tests/test_model_discovery.py checks the two agree.
- Any problem with the header is a ``GgufError`` whose message says what is wrong; a header that is fine but a
  file too short for its tensors (an interrupted download) is read, with ``GgufInfo.problem`` set.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from slipstream.inference.fim import FimTokens, fim_from_ids

MAGIC = b"GGUF"
CHUNK = 1 << 20  # read-ahead; the metadata of a 262k-token vocabulary is about 6.5 MB
MAX_HEADER = 512 << 20  # metadata and tensor descriptions together; real models need under 20 MB
MAX_KV = 1 << 16  # real models have 30 to 60 keys
MAX_TENSORS = 1 << 20  # real models have a few hundred to a few thousand
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_STRING = 16 << 20  # one string; the longest real ones are chat templates of tens of KB
MAX_KEY = 65535  # the GGUF specification's limit on a key's length
MAX_ARRAY = 1 << 26
KEEP_STRING = 4096  # longer string values are skipped, not kept
KEEP_ARRAY = 64  # longer arrays are kept as ArrayInfo (type and length only)
DEFAULT_ALIGNMENT = 32

# llama.cpp's llama_ftype (general.file_type); GUESSED (1024) is a flag on top of one of these.
FILE_TYPES: dict[int, str] = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    4: "Q4_1_SOME_F16",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    33: "Q4_0_4_4",
    34: "Q4_0_4_8",
    35: "Q4_0_8_8",
    36: "TQ1_0",
    37: "TQ2_0",
    38: "MXFP4_MOE",
    39: "NVFP4",
    40: "Q1_0",
}
FTYPE_GUESSED = 1024

# ggml_type: name, elements per block, bytes per block (ggml.c type_traits).
TENSOR_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    9: ("Q8_1", 32, 40),
    10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66),
    17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18),
    21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
    40: ("NVFP4", 64, 36),
    41: ("Q1_0", 128, 18),
}

# Marker texts llama.cpp recognises when the metadata names no id (llama-vocab.cpp, "auto-detect special tokens").
FIM_TEXTS: dict[str, tuple[str, ...]] = {
    "pre": (
        "<|fim_prefix|>",
        "<fim-prefix>",
        "<fim_prefix>",
        "<｜fim▁begin｜>",
        "<PRE>",
        "▁<PRE>",
        "<|code_prefix|>",
        "<|prefix|>",
    ),
    "suf": (
        "<|fim_suffix|>",
        "<fim-suffix>",
        "<fim_suffix>",
        "<｜fim▁hole｜>",
        "<SUF>",
        "▁<SUF>",
        "<|code_suffix|>",
        "<|suffix|>",
    ),
    "mid": (
        "<|fim_middle|>",
        "<fim-middle>",
        "<fim_middle>",
        "<｜fim▁end｜>",
        "<MID>",
        "▁<MID>",
        "<|code_middle|>",
        "<|middle|>",
    ),
}
# The metadata keys, the current one and the deprecated one (llama.cpp reads both).
FIM_ID_KEYS: dict[str, tuple[str, ...]] = {
    "pre": ("tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.prefix_token_id"),
    "suf": ("tokenizer.ggml.fim_suf_token_id", "tokenizer.ggml.suffix_token_id"),
    "mid": ("tokenizer.ggml.fim_mid_token_id", "tokenizer.ggml.middle_token_id"),
}
_FIM_WANTED = {text.encode("utf-8"): role for role, texts in FIM_TEXTS.items() for text in texts}

# GGUF value types: struct format of the scalars (8 = string, 9 = array).
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
STRING, ARRAY = 8, 9
_TYPE_NAMES = {0: "uint8", 1: "int8", 2: "uint16", 3: "int16", 4: "uint32", 5: "int32", 6: "float32", 7: "bool"}
_TYPE_NAMES |= {8: "string", 9: "array", 10: "uint64", 11: "int64", 12: "float64"}


class GgufError(ValueError):
    """The file is not a readable GGUF model header; the message says why, for a user."""


@dataclass(frozen=True)
class ArrayInfo:
    """An array too long to keep: its element type and length."""

    type: str
    count: int


@dataclass(frozen=True)
class GgufInfo:
    version: int
    metadata: dict[str, Any]  # scalars, strings up to KEEP_STRING bytes, arrays up to KEEP_ARRAY items
    tensor_count: int
    n_vocab: int  # the length of tokenizer.ggml.tokens (0: none)
    fim: FimTokens | None
    tensor_elements: dict[str, int] = field(default_factory=dict)  # elements per type, tensors of 2+ dimensions
    data_end: int = 0  # the file size its tensors need
    problem: str | None = None  # the header is fine but the model cannot be used (truncated data)

    @property
    def architecture(self) -> str | None:
        arch = self.metadata.get("general.architecture")
        return arch if isinstance(arch, str) and arch else None

    @property
    def context_length(self) -> int | None:
        value = self.metadata.get(f"{self.architecture}.context_length")
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None

    @property
    def file_type(self) -> str | None:
        """general.file_type as llama.cpp names it (Q4_K_M), or None when absent."""
        value = self.metadata.get("general.file_type")
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        value &= ~FTYPE_GUESSED
        return FILE_TYPES.get(value, f"file type {value}")

    @property
    def dominant_tensor_type(self) -> str | None:
        if not self.tensor_elements:
            return None
        return max(self.tensor_elements.items(), key=lambda kv: kv[1])[0]

    def quantization(self, file_name: str = "") -> str | None:
        """general.file_type; else a quantization named in the file name; else the weights' most common type."""
        return self.file_type or quantization_from_name(file_name) or self.dominant_tensor_type


_QUANT_NAMES = {name.upper() for name in FILE_TYPES.values()} | {t[0].upper() for t in TENSOR_TYPES.values()}
_QUANT_NAMES |= {"Q4_K_L", "Q5_K_L", "Q6_K_L", "Q3_K_XL", "Q2_K_L", "IQ4_NL_4_4"}  # names seen on Hub uploads


def quantization_from_name(file_name: str) -> str | None:
    """``qwen2.5-coder-7b-instruct-q4_k_m.gguf`` -> ``Q4_K_M``: a part between dashes or dots that names one."""
    for part in reversed(re.split(r"[-.\s]+", file_name)):
        if part.upper() in _QUANT_NAMES:
            return part.upper()
    return None


class _Stream:
    """Little- or big-endian reads from a window that slides over the file, never past ``MAX_HEADER``."""

    def __init__(self, f: BinaryIO, size: int, order: str) -> None:
        self.f, self.size = f, size
        self.buf, self.pos, self.base = b"", 0, 0  # file offset of buf[0]; the file is read up to base+len(buf)
        self.u32 = struct.Struct(order + "I")
        self.u64 = struct.Struct(order + "Q")
        self.scalars = {t: struct.Struct(order + c) for t, c in _SCALARS.items()}

    @property
    def offset(self) -> int:
        return self.base + self.pos

    def _need(self, n: int, what: str) -> None:
        end = self.offset + n
        if end > self.size:
            raise GgufError(f"truncated: {what} at byte {self.offset} needs {n} bytes, the file has {self.size}")
        if end > MAX_HEADER:
            raise GgufError(f"corrupt header: its metadata would run past {MAX_HEADER >> 20} MiB")

    def fill(self, n: int, what: str) -> None:
        """Make ``n`` bytes available at ``pos``."""
        have = len(self.buf) - self.pos
        if have >= n:
            return
        self._need(n, what)
        rest, self.base = self.buf[self.pos :], self.base + self.pos
        self.buf, self.pos = b"", 0  # the old window goes before the next is read: at most about 2 * CHUNK held
        self.buf = rest + self.f.read(max(CHUNK, n - have))
        if len(self.buf) < n:  # the file shrank while it was read
            raise GgufError(f"truncated: {what} at byte {self.offset} runs past the end of the file")

    def read(self, n: int, what: str) -> bytes:
        self.fill(n, what)
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def skip(self, n: int, what: str) -> None:
        if n <= len(self.buf) - self.pos:
            self.pos += n
            return
        self._need(n, what)
        target = self.offset + n
        self.f.seek(target)
        self.buf, self.base, self.pos = b"", target, 0

    def scalar(self, t: int, what: str) -> Any:
        s = self.scalars[t]
        self.fill(s.size, what)
        (value,) = s.unpack_from(self.buf, self.pos)
        self.pos += s.size
        return value

    def count(self, what: str, limit: int, min_item: int) -> int:
        """A declared count, checked against the limit and the bytes left in the file."""
        n = self.scalar(10, what)
        left = self.size - self.offset
        if n > limit:
            raise GgufError(f"corrupt header: {what} is {n} (at most {limit} are read)")
        if n * min_item > left:
            raise GgufError(f"truncated: {what} is {n}, more than the {left} bytes left in the file can hold")
        return n

    def string_length(self, what: str, limit: int = MAX_STRING) -> int:
        n = self.scalar(10, what)
        if n > limit or n > self.size - self.offset:
            raise GgufError(f"corrupt header: {what} declares a string of {n} bytes at byte {self.offset - 8}")
        return n

    def key(self, what: str) -> str:
        return self.read(self.string_length(what, MAX_KEY), what).decode("utf-8", "replace")

    def strings(self, count: int, what: str, wanted: dict[bytes, str] | None = None) -> dict[str, int]:
        """Walk ``count`` strings; return the first index of each ``wanted`` text's role. Nothing is kept."""
        found: dict[str, int] = {}
        longest = max(map(len, wanted)) if wanted else -1
        unpack = self.u64.unpack_from
        buf, pos = self.buf, self.pos
        for i in range(count):
            if len(buf) - pos < 8:
                self.pos, buf = pos, b""  # drop this reference to the old window before the next is read
                self.fill(8, what)
                buf, pos = self.buf, self.pos
            n = unpack(buf, pos)[0]
            pos += 8
            if n > len(buf) - pos:  # beyond the window: check it, then read or jump
                self.pos = pos
                if n > MAX_STRING:
                    raise GgufError(f"corrupt header: item {i} of {what} declares a string of {n} bytes")
                buf = b""
                if n > longest:
                    self.skip(n, what)
                    buf, pos = self.buf, self.pos
                    continue
                self.fill(n, what)
                buf, pos = self.buf, self.pos
            if n <= longest and wanted is not None:
                role = wanted.get(buf[pos : pos + n])
                if role is not None and role not in found:
                    found[role] = i
            pos += n
        self.pos = pos
        return found


def read_gguf(path: str | os.PathLike[str]) -> GgufInfo:
    """The header of the GGUF file at ``path``; ``GgufError`` if it is not one or it is unreadable."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            return _read(f, size)
    except OSError as exc:
        raise GgufError(f"cannot read: {exc.strerror or exc}") from exc


def _read(f: BinaryIO, size: int) -> GgufInfo:
    head = f.read(24)
    if len(head) < 4 or head[:4] != MAGIC:
        if len(head) == 0:
            raise GgufError("not a GGUF file: it is empty")
        raise GgufError(f"not a GGUF file: it starts with {head[:4]!r}, not {MAGIC!r}")
    if len(head) < 24:
        raise GgufError(f"truncated: {size} bytes, shorter than a GGUF header")
    order = "<"
    (version,) = struct.unpack_from("<I", head, 4)
    if version & 0xFFFF == 0 and struct.unpack_from(">I", head, 4)[0] in (2, 3):
        order, version = ">", struct.unpack_from(">I", head, 4)[0]  # a big-endian GGUF
    if version == 1:
        raise GgufError("GGUF version 1 (2023) is no longer supported by llama.cpp; convert the model again")
    if version not in (2, 3):
        raise GgufError(f"unsupported GGUF version {version}")
    f.seek(8)
    s = _Stream(f, size, order)
    s.base = 8
    n_tensors = s.count("the tensor count", MAX_TENSORS, 24)
    n_kv = s.count("the metadata count", MAX_KV, 12)
    metadata: dict[str, Any] = {}
    fim_by_text: dict[str, int] = {}
    n_vocab = 0
    for index in range(n_kv):
        key = s.key(f"metadata key {index}")
        if key in metadata:
            raise GgufError(f"corrupt header: the key {key} appears twice")
        t = s.scalar(4, f"the type of {key}")
        if key == "tokenizer.ggml.tokens" and t == ARRAY:
            elem = s.scalar(4, f"the element type of {key}")
            if elem != STRING:
                raise GgufError(f"corrupt header: {key} is an array of {_TYPE_NAMES.get(elem, elem)}, not strings")
            n_vocab = s.count(f"the length of {key}", MAX_ARRAY, 8)
            fim_by_text = s.strings(n_vocab, key, _FIM_WANTED)
            metadata[key] = ArrayInfo("string", n_vocab)
        else:
            metadata[key] = _value(s, t, key)
    fim = _fim(metadata, n_vocab, fim_by_text)
    elements, data_end, problem = _tensors(s, n_tensors, metadata)
    return GgufInfo(version, metadata, n_tensors, n_vocab, fim, elements, data_end, problem)


def _value(s: _Stream, t: int, key: str) -> Any:
    if t in _SCALARS:
        return s.scalar(t, key)
    if t == STRING:
        n = s.string_length(key)
        if n > KEEP_STRING:
            s.skip(n, key)
            return None
        return s.read(n, key).decode("utf-8", "replace")
    if t != ARRAY:
        raise GgufError(f"corrupt header: {key} has an unknown value type {t}")
    elem = s.scalar(4, f"the element type of {key}")
    if elem == STRING:
        n = s.count(f"the length of {key}", MAX_ARRAY, 8)
        if n > KEEP_ARRAY:
            s.strings(n, key)
            return ArrayInfo("string", n)
        return [_value(s, STRING, key) for _ in range(n)]
    if elem not in _SCALARS:
        raise GgufError(f"corrupt header: {key} is an array of an unsupported type {elem}")
    width = s.scalars[elem].size
    n = s.count(f"the length of {key}", MAX_ARRAY, width)
    if n > KEEP_ARRAY:
        s.skip(n * width, key)
        return ArrayInfo(_TYPE_NAMES[elem], n)
    return [s.scalar(elem, key) for _ in range(n)]


def _fim(metadata: dict[str, Any], n_vocab: int, by_text: dict[str, int]) -> FimTokens | None:
    ids: dict[str, int] = {}
    for role, keys in FIM_ID_KEYS.items():
        for key in keys:  # in llama.cpp's order: a later valid key overrides an earlier one
            value = metadata.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < n_vocab:
                ids[role] = value
        if role not in ids and role in by_text:
            ids[role] = by_text[role]
    return fim_from_ids(ids.get("pre", -1), ids.get("suf", -1), ids.get("mid", -1))


def _tensors(s: _Stream, n: int, metadata: dict[str, Any]) -> tuple[dict[str, int], int, str | None]:
    """The tensor descriptions: elements per type, and the file size the tensor data needs."""
    elements: dict[str, int] = {}
    end, unknown = 0, False
    for i in range(n):
        s.skip(s.string_length(f"the name of tensor {i}"), f"the name of tensor {i}")
        n_dims = s.scalar(4, f"the dimensions of tensor {i}")
        if n_dims > MAX_DIMS:
            raise GgufError(f"corrupt header: tensor {i} has {n_dims} dimensions (at most {MAX_DIMS})")
        shape = [s.scalar(10, f"the shape of tensor {i}") for _ in range(n_dims)]
        t = s.scalar(4, f"the type of tensor {i}")
        offset = s.scalar(10, f"the offset of tensor {i}")
        count = 1
        for d in shape:
            count *= d
        known = TENSOR_TYPES.get(t)
        if known is None:
            unknown = True  # a type newer than this table: llama.cpp may know it
            end = max(end, offset)
            continue
        name, block, size = known
        if shape and shape[0] % block:
            raise GgufError(f"corrupt header: tensor {i} ({name}) has {shape[0]} columns, not whole blocks of {block}")
        end = max(end, offset + count // block * size)
        if n_dims >= 2:
            elements[name] = elements.get(name, 0) + count
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise GgufError(f"corrupt header: general.alignment is {alignment!r}, not a power of two")
    data_end = -(-s.offset // alignment) * alignment + end if n else s.offset  # no tensors: no data section
    problem = None
    if data_end > s.size or (unknown and data_end >= s.size):
        problem = (
            f"truncated: the file has {s.size:,} bytes but its tensors need {data_end:,} (an interrupted download?)"
        )
    return elements, data_end, problem
