from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from pathlib import Path
from typing import NamedTuple

import pytest

from rag.errors import ModelUnavailable
from rag.models.embedder_files import EMBEDDINGGEMMA_300M, RECORD_NAME, PackagedEmbedder
from rag.models.embedder_files import is_verified as embedder_verified
from rag.models.embedder_onnx import INT8_WEIGHTS, RECORD, is_exported
from rag.models.model_files import PackagedModel, ensure_model
from rag.models.model_files import is_verified as model_verified
from rag.models.packaged import (
    BLOCK,
    copy_hashing,
    file_sizes,
    move_into_place,
    read_record,
    remove_leftovers,
    sha256_of,
    staging_path,
    unchanged,
    write_record,
)

DATA = "pesi del modello / model weights ✓ ".encode() * 1000


def test_sha256_across_blocks_and_a_tampered_byte(tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"
    data = DATA * (BLOCK // len(DATA) + 2)  # more than one block
    path.write_bytes(data)
    assert sha256_of(path) == hashlib.sha256(data).hexdigest()
    path.write_bytes(data[:-1] + b"!")  # same size, one byte changed
    assert sha256_of(path) != hashlib.sha256(data).hexdigest()


def test_copy_hashing_copies_every_byte_and_counts_them() -> None:
    data = DATA * (BLOCK // len(DATA) + 2)
    out, digest = io.BytesIO(), hashlib.sha256()
    assert copy_hashing(io.BytesIO(data), out, digest) == len(data)
    assert out.getvalue() == data and digest.hexdigest() == hashlib.sha256(data).hexdigest()


def test_records_round_trip_and_bad_ones_read_as_none(tmp_path: Path) -> None:
    path = tmp_path / "x.verified.json"
    assert read_record(path) is None
    write_record(path, {"model": "città · 모델", "size": 3})
    assert read_record(path) == {"model": "città · 모델", "size": 3}
    path.write_text('{"size": 3')
    assert read_record(path) is None
    path.write_text("[1, 2]")
    assert read_record(path) is None


def test_unchanged_needs_the_same_size_and_mtime(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(DATA)
    stat = path.stat()
    assert unchanged(path, stat.st_size, stat.st_mtime_ns)
    assert not unchanged(path, stat.st_size + 1, stat.st_mtime_ns)  # a record with another size
    path.write_bytes(DATA[:-1] + b"!")
    os.utime(path, ns=(stat.st_mtime_ns + 1, stat.st_mtime_ns + 1))
    assert not unchanged(path, stat.st_size, stat.st_mtime_ns)  # same size, rewritten later
    path.unlink()
    assert not unchanged(path, stat.st_size, stat.st_mtime_ns)


def test_file_sizes_lists_nested_files_but_not_the_record(tmp_path: Path) -> None:
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "4_Normalize").mkdir()  # empty folders are not files
    (tmp_path / "1_Pooling" / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(DATA)
    (tmp_path / ".record.json").write_text("{}")
    assert file_sizes(tmp_path, ".record.json") == {"1_Pooling/config.json": 2, "model.safetensors": len(DATA)}


def test_move_into_place_replaces_an_existing_folder(tmp_path: Path) -> None:
    target, work = tmp_path / "model", staging_path(tmp_path / "model")
    (work / "new").mkdir(parents=True)
    (work / "new" / "a.bin").write_bytes(b"new")
    move_into_place(work / "new", target, work / "old")  # nothing there yet
    assert (target / "a.bin").read_bytes() == b"new"
    (work / "newer").mkdir()
    (work / "newer" / "b.bin").write_bytes(b"newer")
    move_into_place(work / "newer", target, work / "old")
    assert [p.name for p in target.iterdir()] == ["b.bin"]
    assert (work / "old" / "a.bin").read_bytes() == b"new"


def test_only_leftovers_of_dead_processes_are_removed(tmp_path: Path) -> None:
    target = tmp_path / "embeddinggemma-300m"
    mine = staging_path(target)
    assert mine.parent == tmp_path and mine.name.startswith(".embeddinggemma-300m.")
    dead = tmp_path / f".embeddinggemma-300m.{2**22 + 1}.7.tmp"  # above Linux's pid_max
    other = tmp_path / f".embeddinggemma-300m-onnx.{2**22 + 1}.7.tmp"  # another target's
    for folder in (mine, dead, other, target):
        folder.mkdir()
        (folder / "part.bin").write_bytes(b"x")
    remove_leftovers(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, other.name, target.name])


def test_records_in_the_shapes_already_on_disk_still_verify(tmp_path: Path) -> None:
    """The three record formats exactly as earlier runs wrote them, so an assembled cache stays verified."""
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(DATA)
    sha, stat = hashlib.sha256(DATA).hexdigest(), gguf.stat()
    model = PackagedModel("tiny", gguf.name, "tiny-part", 1, "1.0", len(DATA), sha)
    record = {"sha256": sha, "size": len(DATA), "mtime_ns": stat.st_mtime_ns, "model": "tiny"}
    (tmp_path / "m.gguf.verified.json").write_text(json.dumps(record, indent=2) + "\n")
    assert model_verified(gguf, model)

    folder = tmp_path / "gemma"
    (folder / "4_Normalize").mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(DATA)
    embedder = PackagedEmbedder("fake/gemma", "gemma", "p", ("0.2.1",), 1, "a" * 64, sha)
    record = {"model": "fake/gemma", "zip_sha256": "a" * 64, "safetensors_sha256": sha,
              "safetensors_mtime_ns": (folder / "model.safetensors").stat().st_mtime_ns,
              "dirs": ["4_Normalize"], "files": {"model.safetensors": len(DATA)}}  # fmt: skip
    (folder / RECORD_NAME).write_text(json.dumps(record, indent=2) + "\n")
    assert embedder_verified(folder, embedder)

    onnx = tmp_path / "onnx"
    onnx.mkdir()
    (onnx / "model.onnx").write_bytes(DATA)
    source = EMBEDDINGGEMMA_300M.safetensors_sha256
    record = {"source_sha256": source, "runtime": "onnx", "files": {"model.onnx": {"size": len(DATA), "sha256": sha}}}
    (onnx / RECORD).write_text(json.dumps(record, indent=1))
    assert is_exported(onnx)
    # int8 made before its weights kept 7 bits (no record of them) is made again; this quantization's is kept
    assert not is_exported(onnx, "onnx-int8")
    (onnx / RECORD).write_text(json.dumps({**record, "runtime": "onnx-int8", "weights": INT8_WEIGHTS}, indent=1))
    assert is_exported(onnx, "onnx-int8")
    (onnx / RECORD).write_text(json.dumps({**record, "runtime": "onnx-int8", "weights": "int8"}, indent=1))
    assert not is_exported(onnx, "onnx-int8")
    (onnx / RECORD).write_text(json.dumps(record, indent=1))
    (onnx / "extra.bin").write_bytes(b"x")  # a file the record does not name
    assert not is_exported(onnx)


class _Usage(NamedTuple):
    total: int
    used: int
    free: int


def test_joining_the_model_on_a_full_disk_is_refused_before_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = PackagedModel("Tiny", "tiny.gguf", "tiny-part", 2, "1.0", 3_000_000_000, "0" * 64)
    monkeypatch.setattr(shutil, "disk_usage", lambda _: _Usage(10**10, 10**10 - 10**9, 10**9))
    with pytest.raises(ModelUnavailable, match=r"Joining Tiny needs about 3.0 GB free .* only 1.0 GB is"):
        ensure_model(model, tmp_path)
    assert not list((tmp_path / "models").iterdir())  # nothing half-written
