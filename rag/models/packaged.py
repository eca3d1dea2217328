"""What the packaged-weights modules share: sha256 in blocks, verified records, staging beside the target.

The GGUF file (model_files.py), the EmbeddingGemma folder (embedder_files.py), its ONNX exports
(embedder_onnx.py) and its GGUF conversions (embedder_gguf.py) are each built in a hidden staging path
next to where they belong and renamed into place once checked, so a killed run never leaves something
that looks ready. A small JSON record (next to the file, or inside the folder) says what was verified;
each module keeps its own record's fields, and later runs trust it while the sizes (and, where recorded,
mtimes) still match, instead of hashing a gigabyte again. The exports and conversions share
`build_folder` and `check_folder`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from ..errors import ModelUnavailable

BLOCK = 1 << 22  # 4 MB: few reads of a 1 GB file, little memory


def copy_hashing(src: IO[bytes], dst: IO[bytes], digest: hashlib._Hash) -> int:
    """Copy src to dst in blocks, feeding each to digest; returns the bytes copied."""
    copied = 0
    while block := src.read(BLOCK):
        digest.update(block)
        dst.write(block)
        copied += len(block)
    return copied


def sha256_of(path: Path) -> str:
    """The file's sha256 as hex, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def read_record(path: Path) -> dict[str, Any] | None:
    """The JSON object at path, or None when it is missing, unreadable or not an object."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def write_record(path: Path, record: dict[str, Any]) -> None:
    path.write_text(json.dumps(record, indent=2) + "\n")


def unchanged(path: Path, size: object, mtime_ns: object) -> bool:
    """True when the file still has the size and mtime a record noted (the fast path that skips the sha256)."""
    try:
        stat = path.stat()
    except OSError:
        return False
    return stat.st_size == size and stat.st_mtime_ns == mtime_ns


def file_sizes(folder: Path, record_name: str) -> dict[str, int]:
    """Every file under folder but its record, by relative path: {"1_Pooling/config.json": 312, ...}."""
    return {
        path.relative_to(folder).as_posix(): path.stat().st_size
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != record_name
    }


def staging_path(target: Path) -> Path:
    """A hidden sibling of target, private to this process and thread, to build it in: ".name.<pid>.<thread>.tmp"."""
    return target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def move_into_place(staged: Path, target: Path, aside: Path) -> None:
    """Rename the staged folder to target; whatever is at target is first renamed to aside, which the caller removes.

    os.replace cannot overwrite a folder, and deleting the old one first would leave a moment with neither.
    """
    if os.path.lexists(target):
        os.replace(target, aside)
    os.replace(staged, target)


def remove_leftovers(target: Path) -> None:
    """Remove the staging files or folders of earlier runs that were killed (their process is gone); they can
    hold 2 GB."""
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.(\d+)\.\d+\.tmp$")
    for path in target.parent.iterdir():
        match = pattern.match(path.name)
        if match and not _process_alive(int(match.group(1))):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_free_space(folder: Path, needed: int, what: str, fix: str) -> None:
    """Refuse, naming the sizes and the fix, when `folder`'s disk has less than `needed` bytes free: a join
    that runs out of space midway costs minutes and leaves a partial file."""
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise ModelUnavailable(
            f"{what} needs about {needed / 1e9:.1f} GB free in {folder}, only {free / 1e9:.1f} GB is. "
            f"Free some space (or set RAG_CACHE_DIR elsewhere), then {fix}"
        )


def is_recorded(folder: Path, record_name: str, expected: dict[str, Any]) -> bool:
    """True when the folder's record holds every `expected` field with its value and lists files that all
    still have their recorded sizes."""
    record = read_record(folder / record_name)
    try:
        return (
            record is not None
            and all(record.get(key) == value for key, value in expected.items())
            and bool(record["files"])
            and file_sizes(folder, record_name) == {name: entry["size"] for name, entry in record["files"].items()}
        )
    except (OSError, KeyError, TypeError, AttributeError):
        return False


def check_folder(
    folder: Path, record_name: str, expected: dict[str, Any], what: str, fix: str, verify_hashes: bool = False
) -> Path:
    """The folder a conversion or export made, or ModelUnavailable naming `what` and the fix (with
    `verify_hashes`, every file's sha256 is compared with its record's too)."""
    if not is_recorded(folder, record_name, expected):
        state = "is not exported yet"
        if folder.exists():
            state = "is incomplete, changed since it was exported or made otherwise"
        raise ModelUnavailable(f"{what} ({folder}) {state}. {fix}")
    if verify_hashes:
        record = json.loads((folder / record_name).read_text())
        for name, entry in record["files"].items():
            if sha256_of(folder / name) != entry["sha256"]:
                raise ModelUnavailable(f"{folder / name} does not match the sha256 recorded at export. {fix}")
    return folder


def build_folder(target: Path, record_name: str, fields: dict[str, Any], build: Callable[[Path, Path], None]) -> Path:
    """Make `target` by `build(staged, work)` in a staging folder beside it, record its files' sizes and sha256
    with `fields`, and move it into place in one rename; the work folder goes whatever happens."""
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(target)
    work = staging_path(target)
    shutil.rmtree(work, ignore_errors=True)
    staged = work / "export"
    staged.mkdir(parents=True)
    try:
        build(staged, work)
        files = file_sizes(staged, record_name)
        hashed = {name: {"size": size, "sha256": sha256_of(staged / name)} for name, size in files.items()}
        write_record(staged / record_name, {**fields, "files": hashed})
        move_into_place(staged, target, work / "old")  # the old one goes with the work folder
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target
