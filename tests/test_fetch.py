"""Adding a news page by URL, against a real local HTTP server serving saved pages."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rag.errors import CorpusError
from rag.fetch import fetch_page
from rag.library import add_url, list_articles
from rag.settings import Settings
from rag.store import ChunkStore
from tests.conftest import free_port
from tests.fakes import HashEmbeddings

PAGES = Path(__file__).parent / "fixtures" / "pages"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), functools.partial(_Quiet, directory=str(PAGES)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def local(settings: Settings) -> Settings:
    return settings.model_copy(update={"allow_private_urls": True})


def test_a_news_page_is_fetched_extracted_and_indexed(local: Settings, site: str) -> None:
    store = ChunkStore(local, HashEmbeddings())
    added = add_url(local, store, f"{site}/articolo-douai.html")
    article = added.article
    assert article.title == "A Douai la nuova linea per le batterie"
    assert (article.date, article.author, article.publication, article.language) == (
        "2025-11-03",
        "Giulia Ferri",
        "Motori Oggi",
        "it",
    )
    assert "450 persone" in article.text and "180 milioni di euro" in article.text
    for furniture in ["cookie", "Contatti", "Leggi anche", "dieci auto", "Privacy", "Instagram", "dataLayer"]:
        assert furniture not in article.text, furniture
    assert added.path.suffix == ".md" and added.path.parent == local.corpus[0]  # kept as clean Markdown
    assert article.id in {e.id for e in list_articles(store)}


def test_an_address_inside_this_machine_is_refused_unless_allowed(settings: Settings, site: str) -> None:
    with pytest.raises(CorpusError, match="RAG_ALLOW_PRIVATE_URLS"):
        add_url(settings, ChunkStore(settings, HashEmbeddings()), f"{site}/articolo-douai.html")
    with pytest.raises(CorpusError, match="inside this machine's network"):
        fetch_page("http://169.254.169.254/latest/meta-data/", 10_000)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/dati.json", "is not a web page"),
        ("/manca.html", "HTTP 404"),
    ],
)
def test_what_is_not_an_article_page_is_named(local: Settings, site: str, path: str, message: str) -> None:
    with pytest.raises(CorpusError, match=message):
        add_url(local, ChunkStore(local, HashEmbeddings()), f"{site}{path}")


def test_a_page_with_no_article_text_is_refused_and_nothing_is_added(local: Settings, site: str) -> None:
    before = sorted(p.name for p in local.corpus[0].iterdir())
    with pytest.raises(CorpusError, match="no article text"):
        add_url(local, ChunkStore(local, HashEmbeddings()), f"{site}/solo-menu.html")
    assert sorted(p.name for p in local.corpus[0].iterdir()) == before


def test_unreachable_oversized_and_non_web_addresses_are_clear_errors(site: str) -> None:
    with pytest.raises(CorpusError, match="Cannot fetch"):
        fetch_page(f"http://127.0.0.1:{free_port()}/x.html", 10_000, allow_private=True)
    with pytest.raises(CorpusError, match="RAG_UPLOAD_MAX_BYTES"):
        fetch_page(f"{site}/articolo-douai.html", 500, allow_private=True)
    with pytest.raises(CorpusError, match="http:// or https://"):
        fetch_page("ftp://example.org/a.html", 10_000)
    with pytest.raises(CorpusError, match="http:// or https://"):
        fetch_page("file:///etc/passwd", 10_000, allow_private=True)
