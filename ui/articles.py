"""The Articles tab's actions: thin calls into rag.library, returning what the reader reads."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rag.errors import RagError
from rag.library import Added, add_article, add_url, list_articles, remove_article, select_articles
from rag.periods import between
from rag.service import Service
from rag.types import WriteProgress
from ui.render import article_text, articles_table


def article_choices(service: Service) -> list[tuple[str, str]]:
    return [(f"{e.title} ({e.id})", e.id) for e in list_articles(service.store)]


def publication_choices(service: Service) -> list[tuple[str, str]]:
    names = sorted({e.publication for e in list_articles(service.store) if e.publication}, key=str.casefold)
    return [("Tutte / All", "")] + [(name, name) for name in names]


def shown_articles(service: Service, since: str, until: str, publication: str, order: str) -> str:
    """The Articles table for a period (yyyy-mm-dd, either end optional), a publication and an order."""
    try:
        period = between(since, until)
    except ValueError as e:
        return f"<p>⚠️ {html.escape(str(e))}</p>" + articles_table(list_articles(service.store))
    entries = select_articles(list_articles(service.store), period, publication or "", order or "newest")
    return articles_table(entries)


def _indexing(progress: Callable[[float, str], Any] | None) -> Callable[[WriteProgress], None]:
    def report(at: WriteProgress) -> None:
        if progress is not None:
            progress(
                at.chunks_done / max(at.chunks_total, 1),
                f"Indicizzazione / Indexing {at.chunks_done}/{at.chunks_total} passaggi / chunks",
            )

    return report


def _added(added: Added) -> str:
    a = added.article
    return (
        f"✓ Aggiunto / Added: **{article_text(a.title)}** ({a.language}, {added.chunks} passaggi / chunks). "
        "Ora puoi farci domande / You can ask about it now."
    )


def upload_article(service: Service, path: str | None, progress: Callable[[float, str], Any] | None = None) -> str:
    """Add an uploaded file to the corpus and the index; returns the message for the reader."""
    if not path:
        return "Nessun file / No file."
    try:
        added = add_article(
            service.settings, service.store, Path(path), name=Path(path).name, progress=_indexing(progress)
        )
    except RagError as e:
        return f"⚠️ {article_text(str(e))}"
    return _added(added)


def add_page(service: Service, url: str | None, progress: Callable[[float, str], Any] | None = None) -> str:
    """Fetch a news page by its address, extract the article and index it; returns the message for the reader."""
    if not url or not url.strip():
        return "Nessun indirizzo / No address."
    try:
        added = add_url(service.settings, service.store, url.strip(), progress=_indexing(progress))
    except RagError as e:
        return f"⚠️ {article_text(str(e))}"
    return _added(added)


def remove_selected(service: Service, article_id: str | None) -> str:
    if not article_id:
        return "Scegli un articolo / Choose an article."
    try:
        entry, kept = remove_article(service.settings, service.store, article_id)
    except RagError as e:
        return f"⚠️ {article_text(str(e))}"
    return f"✓ Rimosso / Removed: **{article_text(entry.title)}** (file: <code>{html.escape(str(kept))}</code>)"
