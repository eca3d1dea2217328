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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .corpus import parse_article, read_article, to_markdown
from .errors import CorpusError, IndexNotBuilt
from .fetch import fetch_page
from .ingest import Progress, ingest
from .periods import Period, day_number
from .settings import Settings
from .store import ChunkStore
from .types import Article, IngestReport

UPLOAD_SUFFIXES = (".md", ".txt", ".html", ".htm")
_WRITE_LOCK = threading.Lock()


@dataclass(frozen=True)
class ArticleEntry:
    """An indexed article as the index records it."""

    id: str
    title: str
    date: str
    language: str
    publication: str
    chunks: int
    source: str
    content_hash: str = ""
    author: str = ""


@dataclass(frozen=True)
class Added:
    article: Article
    path: Path  # where the file now lives in the corpus
    chunks: int  # the article's chunks in the index
    report: IngestReport


def list_articles(store: ChunkStore) -> list[ArticleEntry]:
    """The indexed articles as the index itself holds them (newest date first); none before the first ingest.

    Read from the chunks' metadata, not from the manifest, so an interrupted ingest or another machine
    writing to a shared Chroma server never makes the list disagree with what answers are drawn from.
    """
    try:
        rows = store.chunk_metadata()
    except IndexNotBuilt:
        return []
    articles: dict[str, dict[str, Any]] = {}
    for meta in rows:
        entry = articles.setdefault(str(meta.get("article_id", "")), {"meta": meta, "chunks": 0})
        entry["chunks"] += 1
    entries = [
        ArticleEntry(
            id=article_id,
            title=str(a["meta"].get("title", "")),
            date=str(a["meta"].get("date", "")),
            language=str(a["meta"].get("language", "")),
            publication=str(a["meta"].get("publication", "")),
            chunks=a["chunks"],
            source=str(a["meta"].get("source", "")),
            content_hash=str(a["meta"].get("content_hash", "")),
            author=str(a["meta"].get("author", "")),
        )
        for article_id, a in articles.items()
    ]
    return sorted(entries, key=lambda e: (e.date, e.title, e.id), reverse=True)


SORTS = ("newest", "oldest", "title", "publication")


def select_articles(
    entries: list[ArticleEntry], period: Period | None = None, publication: str = "", sort: str = "newest"
) -> list[ArticleEntry]:
    """The articles of a period and a publication ("": any), in the order asked (`SORTS`; undated last).

    Example: select_articles(entries, Period(date(2025, 9, 1), date(2025, 9, 30)), "Motori.it", "oldest")
    """
    if sort not in SORTS:
        raise ValueError(f"unknown order {sort!r}: use one of {', '.join(SORTS)}")
    chosen = [
        e
        for e in entries
        if (not publication or e.publication == publication)
        and (period is None or (day_number(e.date) and period.first_day <= day_number(e.date) <= period.last_day))
    ]
    dated, undated = [e for e in chosen if e.date], [e for e in chosen if not e.date]
    if sort == "newest":
        return sorted(dated, key=lambda e: (e.date, e.title), reverse=True) + undated
    if sort == "oldest":
        return sorted(dated, key=lambda e: (e.date, e.title)) + undated
    if sort == "title":
        return sorted(chosen, key=lambda e: e.title.casefold())
    return sorted(chosen, key=lambda e: (e.publication.casefold(), e.date or "0000"), reverse=False)


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def check_upload(path: Path, name: str, max_bytes: int) -> None:
    """Reject what cannot be an article before anything is written: wrong type, too big."""
    suffix = Path(name).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise CorpusError(f"'{name}' is not a supported article file. Upload .md, .txt or .html.")
    size = path.stat().st_size
    if size > max_bytes:
        raise CorpusError(
            f"'{name}' is {_megabytes(size)}; the limit is {_megabytes(max_bytes)} ({max_bytes} bytes, "
            "RAG_UPLOAD_MAX_BYTES). Upload a smaller file or raise the limit."
        )


def safe_stem(name: str) -> str:
    """A file name the corpus loader will read: no path, no odd characters, not hidden, not a README.

    Example: "../_Bozza finale!.md" -> "Bozza-finale"; "README.md" -> "article-README"
    """
    stem = re.sub(r"[^\w.-]+", "-", Path(name).stem).strip("-._")[:80]
    if not stem:
        return "article"
    return f"article-{stem}" if stem.upper().startswith("README") else stem


def _failed(what: str, e: Exception, fix: str) -> CorpusError:
    return CorpusError(f"{what} failed ({e.__class__.__name__}: {e}). {fix}")


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
        known = {e.id: e for e in list_articles(store)}
        stem = safe_stem(name)
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
            for entry in known.values():
                if entry.content_hash == article.content_hash:
                    raise CorpusError(
                        f"'{name}' is already indexed as '{entry.title}' (id {entry.id}). "
                        "To replace it, remove that article first."
                    )
            if article.id in known:  # an id set in the front matter
                raise CorpusError(
                    f"'{name}' declares id '{article.id}', which an indexed article already has. "
                    "Change the id in its front matter and upload it again."
                )
            shutil.move(str(staged), target)
        try:
            report = ingest(settings, store, progress=progress)
        except Exception as e:
            target.unlink(missing_ok=True)
            raise _failed(
                f"Indexing '{name}'", e, "The file was not added; run `rag ingest` to resync the index."
            ) from e
        chunks = {entry.id: entry.chunks for entry in list_articles(store)}
        if article.id not in chunks:  # the loader skipped it after all
            target.unlink(missing_ok=True)
            skipped = "; ".join(report.skipped_files) or "no reason given"
            raise CorpusError(f"'{name}' could not be indexed ({skipped}). Check the file and upload it again.")
    return Added(
        article=replace(article, source_path=str(target)), path=target, chunks=chunks[article.id], report=report
    )


def add_url(settings: Settings, store: ChunkStore, url: str, progress: Progress | None = None) -> Added:
    """Fetch the news page at `url`, extract its article and add it (as Markdown with front matter)."""
    page = fetch_page(url, settings.upload_max_bytes, settings.fetch_timeout, settings.allow_private_urls)
    parsed = urlparse(page.url)
    slug = safe_stem(parsed.path.rstrip("/").rpartition("/")[2] or parsed.hostname or "page")
    try:
        article = parse_article(page.html, Path(f"{slug}.html"))
    except ValueError as e:
        raise CorpusError(f"{page.url}: {e}; the page holds no article text to index.") from e
    with tempfile.TemporaryDirectory(prefix="rag-url-") as tmp:
        path = Path(tmp) / f"{slug}.md"
        path.write_text(to_markdown(article), encoding="utf-8")
        return add_article(settings, store, path, name=path.name, progress=progress)


def _inside(path: Path, folders: tuple[Path, ...]) -> bool:
    resolved = path.resolve()
    return any(resolved.is_relative_to(Path(folder).resolve()) for folder in folders)


def _free_name(folder: Path, name: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = folder / f"{stamp}-{name}"
    n = 1
    while target.exists():
        n += 1
        target = folder / f"{stamp}-{n}-{name}"
    return target


def remove_article(settings: Settings, store: ChunkStore, article_id: str) -> tuple[ArticleEntry, Path]:
    """Take an article out of the index; its file moves to `<index>/removed/` (returned), nothing is deleted."""
    with _WRITE_LOCK:
        entries = list_articles(store)
        entry = next((e for e in entries if e.id == article_id), None)
        if entry is None:
            raise CorpusError(f"No indexed article has id '{article_id}'. List them with: rag articles")
        source = Path(entry.source)
        if not source.is_file() or not _inside(source, settings.corpus):
            raise CorpusError(
                f"The file of '{entry.title}' ({source}) is not in the corpus folders any more. "
                "Run `rag ingest` to bring the index in line with the corpus."
            )
        kept = _free_name(settings.index_dir / "removed", source.name)
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(source), kept)
        try:
            # the last article: empty the index on purpose (ingest refuses to empty it by accident)
            ingest(settings, store, rebuild=len(entries) == 1)
        except Exception as e:
            shutil.move(str(kept), source)
            raise _failed(
                f"Removing '{entry.title}'", e, f"The file is back at {source}; run `rag ingest` to resync the index."
            ) from e
    return entry, kept
