"""The article library: list the indexed articles, add one (upload), remove one.

Adding copies the file into the first corpus folder and ingests incrementally, so the article is
answerable at once (retrievers reload when the index revision changes). Removing moves the file
out of the corpus into `<index>/removed/` (nothing is deleted) and ingests, which drops its chunks.
One write at a time per process.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .corpus import read_article
from .errors import CorpusError
from .ingest import Progress, ingest, read_manifest
from .settings import Settings
from .store import ChunkStore
from .types import Article, IngestReport

UPLOAD_SUFFIXES = (".md", ".txt", ".html", ".htm")
_WRITE_LOCK = threading.Lock()


@dataclass(frozen=True)
class ArticleEntry:
    id: str
    title: str
    date: str
    language: str
    publication: str
    chunks: int
    source: str


@dataclass(frozen=True)
class Added:
    article: Article
    path: Path  # where the file now lives in the corpus
    report: IngestReport


def list_articles(settings: Settings) -> list[ArticleEntry]:
    """The indexed articles, as the last ingest recorded them (newest date first)."""
    manifest = read_manifest(settings) or {}
    entries = [
        ArticleEntry(
            id=str(a.get("id", "")),
            title=str(a.get("title", "")),
            date=str(a.get("date", "")),
            language=str(a.get("language", "")),
            publication=str(a.get("publication", "")),
            chunks=int(a.get("chunks", 0)),
            source=str(a.get("source", "")),
        )
        for a in manifest.get("articles", [])
    ]
    return sorted(entries, key=lambda e: (e.date, e.title), reverse=True)


def check_upload(path: Path, name: str, max_bytes: int) -> None:
    """Reject what cannot be an article before anything is written: wrong type, too big, empty."""
    suffix = Path(name).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise CorpusError(f"'{name}' is not a supported article file. Upload .md, .txt or .html.")
    size = path.stat().st_size
    if size > max_bytes:
        raise CorpusError(
            f"'{name}' is {size / 1024:.0f} KB; the limit is {max_bytes / 1024:.0f} KB (RAG_UPLOAD_MAX_BYTES)."
        )


def _safe_stem(name: str) -> str:
    stem = re.sub(r"[^\w.-]+", "-", Path(name).stem).strip("-.")
    return stem[:80] or "article"


def add_article(
    settings: Settings, store: ChunkStore, path: Path, name: str | None = None, progress: Progress | None = None
) -> Added:
    """Add the article file at `path` (uploaded as `name`) to the corpus and index it.

    Raises CorpusError, naming the file and the fix, when it is not a readable article or is already indexed.
    """
    name = name or path.name
    check_upload(path, name, settings.upload_max_bytes)
    suffix = Path(name).suffix.lower()
    with _WRITE_LOCK:
        folder = Path(settings.corpus[0])
        folder.mkdir(parents=True, exist_ok=True)
        known = {e.id: e for e in list_articles(settings)}
        stem = _safe_stem(name)
        n = 1
        target = folder / f"{stem}{suffix}"
        while target.exists() or target.stem in known:
            n += 1
            target = folder / f"{stem}-{n}{suffix}"
        with tempfile.TemporaryDirectory(prefix="rag-upload-") as tmp:
            staged = Path(tmp) / target.name  # parsed under its final name: the name gives its id and format
            shutil.copyfile(path, staged)
            try:
                article = read_article(staged)
            except ValueError as e:
                raise CorpusError(f"'{name}' {e}. Check the file and upload it again.") from e
            manifest = read_manifest(settings) or {}
            for entry in manifest.get("articles", []):
                if entry.get("content_hash") == article.content_hash:
                    raise CorpusError(f"'{name}' is already indexed as '{entry.get('title')}'.")
            if article.id in known:  # an id set in the front matter
                raise CorpusError(f"An article with id '{article.id}' is already indexed. Change the id and retry.")
            shutil.move(str(staged), target)
        try:
            report = ingest(settings, store, progress=progress)
        except Exception:
            target.unlink(missing_ok=True)  # the corpus stays as the index knows it
            raise
    return Added(article=read_article(target), path=target, report=report)


def remove_article(settings: Settings, store: ChunkStore, article_id: str) -> tuple[ArticleEntry, Path]:
    """Take an article out of the index; its file moves to `<index>/removed/` (returned)."""
    with _WRITE_LOCK:
        entry = next((e for e in list_articles(settings) if e.id == article_id), None)
        if entry is None:
            raise CorpusError(f"No indexed article has id '{article_id}'. See the list of articles.")
        source = Path(entry.source)
        if not source.is_file():
            raise CorpusError(f"The file of '{entry.title}' ({source}) is gone. Run `rag ingest` to resync the index.")
        kept = settings.index_dir / "removed" / f"{time.strftime('%Y%m%d-%H%M%S')}-{source.name}"
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(source), kept)
        try:
            ingest(settings, store)
        except Exception:
            shutil.move(str(kept), source)  # put it back: the index still holds it
            raise
    return entry, kept
