"""Corpus -> chunks -> store, incrementally: only new chunks are embedded, stale ones are removed.

Chunk ids come from content, so a second run over unchanged files writes nothing; a changed
article's old chunks are replaced, a deleted article's chunks are removed. An interrupted run
(kill -9, Ctrl-C, a lost server) is finished by the next: the store writes a chunk after its
sentences, and `repair` drops what was half-written. The index itself is the record of what it
holds; the manifest (index/manifest.json) is a summary of the last completed ingest.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .chunking import chunk_article
from .corpus import load_corpus, origin_of
from .errors import CorpusError
from .settings import Settings
from .store import ChunkStore
from .types import Article, IngestReport, WriteProgress

Progress = Callable[[WriteProgress], None]


def ingest(
    settings: Settings, store: ChunkStore, rebuild: bool = False, progress: Progress | None = None
) -> IngestReport:
    loaded = load_corpus(settings.corpus)
    chunks = [c for a in loaded.articles for c in chunk_article(a, settings.chunk_size, settings.chunk_overlap)]
    rebuilt = store.open_for_writing(rebuild=rebuild)
    # on a shared server other machines write too: only this corpus's own folders are pruned or repaired
    origins = (
        {origin_of(Path(folder) / "_", settings.corpus) for folder in settings.corpus} if settings.chroma_url else None
    )
    repaired = store.repair(origins)  # what an interrupted run left half-written is redone below
    existing, ours = _stored(store, origins)
    kept = _in_unreadable_folders(store, loaded.unreadable)  # not gone, only out of sight: keep them
    if not loaded.articles and not rebuild:
        folders = ", ".join(map(str, settings.corpus))
        why = f" ({'; '.join(loaded.skipped[:3])}{' …' if len(loaded.skipped) > 3 else ''})" if loaded.skipped else ""
        if ours - kept:
            raise CorpusError(
                f"No article could be loaded from {folders}{why}, so ingesting would empty the index. Check the "
                "folder; to empty the index on purpose: rag ingest --rebuild"
            )
        raise CorpusError(
            f"No article could be loaded from {folders}{why}: nothing to index. Add .md, .txt or .html articles there."
        )
    wanted = {c.id for c in chunks}
    to_add = [c for c in chunks if c.id not in existing]
    to_delete = sorted(ours - wanted - kept)
    embedded = store.write(to_add, to_delete, progress=progress)
    report = IngestReport(
        articles=len(loaded.articles),
        chunks=len(chunks),
        added=len(to_add),
        removed=len(to_delete),
        unchanged=len(wanted & existing),
        skipped_files=loaded.skipped,
        repaired=len(repaired.incomplete_chunks),
        embedded_chars=embedded,
        rebuilt=rebuilt,
    )
    write_manifest(
        settings, store, loaded.articles, {a.id: sum(c.article_id == a.id for c in chunks) for a in loaded.articles}
    )
    return report


def _stored(store: ChunkStore, origins: set[str] | None) -> tuple[set[str], set[str]]:
    """Every stored chunk id, and those this ingest may remove: all of them, or those of `origins` (and
    chunks that record no origin)."""
    stored = store.stored_origins()
    ours = {cid for cid, origin in stored.items() if origins is None or not origin or origin in origins}
    return set(stored), ours


def _in_unreadable_folders(store: ChunkStore, folders: list[Path]) -> set[str]:
    if not folders:
        return set()
    roots = [folder.resolve() for folder in folders]
    return {
        c.id
        for c in store.all_chunks()
        if c.source and any(Path(c.source).resolve().is_relative_to(root) for root in roots)
    }


def write_manifest(
    settings: Settings, store: ChunkStore, articles: list[Article], chunk_counts: dict[str, int]
) -> None:
    manifest = {
        "embedder": store.embedder,
        "store": store.location,
        "collection": settings.collection_name,
        "revision": store.revision(),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "corpus": [str(p) for p in settings.corpus],
        "chunk_size": settings.chunk_size,
        "chunk_overlap": settings.chunk_overlap,
        "chunks": sum(chunk_counts.values()),
        "articles": [
            {
                "id": a.id,
                "title": a.title,
                "date": a.date,
                "language": a.language,
                "publication": a.publication,
                "source": a.source_path,
                "content_hash": a.content_hash,
                "chunks": chunk_counts.get(a.id, 0),
            }
            for a in articles
        ],
    }
    path = settings.manifest_path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def read_manifest(settings: Settings) -> dict[str, Any] | None:
    path: Path = settings.manifest_path
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data
    except (OSError, ValueError):
        return None
