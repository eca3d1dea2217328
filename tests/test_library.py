"""The article library: upload checks, add, remove, with a real persistent Chroma and the fake embedder."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.errors import CorpusError
from rag.ingest import ingest
from rag.library import add_article, list_articles, remove_article
from rag.service import Service, build_service
from rag.settings import Settings
from tests.fakes import HashEmbeddings, scripted

ARTICLE = """---
title: La biblioteca civica di Douai riapre
date: 2026-03-01
publication: Fixture
---

La biblioteca civica di Douai riaprirà il 3 marzo 2027 dopo un restauro costato 12 milioni di euro.
Il progetto è stato firmato dall'architetta Marta Lenoir.
"""


@pytest.fixture
def service(settings: Settings) -> Service:
    svc = build_service(settings, embeddings=HashEmbeddings())
    ingest(settings, svc.store)
    return svc


def upload(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / "uploads" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_an_added_article_is_listed_stored_and_searchable(service: Service, tmp_path: Path) -> None:
    before = {e.id for e in list_articles(service.store)}
    added = add_article(service.settings, service.store, upload(tmp_path, "biblioteca.md", ARTICLE))
    assert added.path.parent == service.settings.corpus[0] and added.path.read_text() == ARTICLE
    entries = {e.id: e for e in list_articles(service.store)}
    assert set(entries) == before | {"biblioteca"}
    assert entries["biblioteca"].chunks == added.chunks >= 1 and entries["biblioteca"].date == "2026-03-01"
    hits = service.retriever.search("Quando riaprirà la biblioteca civica di Douai?")
    assert hits[0].chunk.article_id == "biblioteca"


def test_html_uploads_are_cleaned_like_the_corpus(service: Service, tmp_path: Path) -> None:
    page = (
        "<html><head><title>Nuovo tram a Lille</title></head><body><nav>Menu</nav><h1>Nuovo tram a Lille</h1>"
        "<p>Il nuovo tram di Lille entrerà in servizio nel 2029 e costerà 300 milioni di euro.</p></body></html>"
    )
    added = add_article(service.settings, service.store, upload(tmp_path, "tram.html", page))
    assert added.article.title == "Nuovo tram a Lille" and "Menu" not in added.article.text


def test_the_same_article_twice_is_refused_and_not_copied(service: Service, tmp_path: Path) -> None:
    add_article(service.settings, service.store, upload(tmp_path, "biblioteca.md", ARTICLE))
    files = sorted(service.settings.corpus[0].iterdir())
    with pytest.raises(CorpusError, match="already indexed"):
        add_article(service.settings, service.store, upload(tmp_path, "copia.md", ARTICLE))
    assert sorted(service.settings.corpus[0].iterdir()) == files


def test_a_name_already_taken_gets_a_new_one(service: Service, tmp_path: Path) -> None:
    add_article(service.settings, service.store, upload(tmp_path, "biblioteca.md", ARTICLE))
    other = ARTICLE.replace("12 milioni", "15 milioni").replace("riapre", "riapre davvero")
    added = add_article(service.settings, service.store, upload(tmp_path, "biblioteca.md", other))
    assert added.path.name == "biblioteca-2.md" and added.article.id == "biblioteca-2"
    assert {"biblioteca", "biblioteca-2"} <= {e.id for e in list_articles(service.store)}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("report.pdf", b"%PDF-1.7", "not a supported article file"),
        ("vuoto.md", b"   \n", "is empty"),
        ("binario.txt", b"\x00\x01\x02 data", "binary"),
        ("latin1.txt", "Città".encode("latin-1"), "not UTF-8"),
    ],
)
def test_bad_uploads_are_refused_with_the_reason_and_change_nothing(
    service: Service, tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    files = sorted(service.settings.corpus[0].iterdir())
    before = list_articles(service.store)
    with pytest.raises(CorpusError, match=message):
        add_article(service.settings, service.store, upload(tmp_path, name, content))
    assert sorted(service.settings.corpus[0].iterdir()) == files and list_articles(service.store) == before


def test_an_upload_over_the_size_limit_is_refused_and_not_copied(service: Service, tmp_path: Path) -> None:
    settings = service.settings.model_copy(update={"upload_max_bytes": 100})
    files = sorted(settings.corpus[0].iterdir())
    with pytest.raises(CorpusError, match=r"the limit is 0.0 MB \(100 bytes, RAG_UPLOAD_MAX_BYTES\)"):
        add_article(settings, service.store, upload(tmp_path, "biblioteca.md", ARTICLE))
    assert sorted(settings.corpus[0].iterdir()) == files


@pytest.mark.parametrize(("name", "stored"), [("_bozza.md", "bozza.md"), ("README.md", "article-README.md")])
def test_names_the_corpus_loader_skips_are_renamed(service: Service, tmp_path: Path, name: str, stored: str) -> None:
    added = add_article(service.settings, service.store, upload(tmp_path, name, ARTICLE))
    assert added.path.name == stored and added.chunks >= 1
    assert added.article.id in {e.id for e in list_articles(service.store)}


def test_a_front_matter_id_already_taken_is_refused(service: Service, tmp_path: Path) -> None:
    taken = list_articles(service.store)[0].id
    text = ARTICLE.replace("---\ntitle:", f"---\nid: {taken}\ntitle:", 1)
    with pytest.raises(CorpusError, match=f"declares id '{taken}'"):
        add_article(service.settings, service.store, upload(tmp_path, "altro.md", text))


def test_a_failed_ingest_leaves_the_corpus_as_it_was(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = sorted(service.settings.corpus[0].iterdir())

    def broken(*_args: object, **_kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("rag.library.ingest", broken)
    with pytest.raises(CorpusError, match=r"Indexing 'biblioteca.md' failed \(OSError: disk full\).*rag ingest"):
        add_article(service.settings, service.store, upload(tmp_path, "biblioteca.md", ARTICLE))
    assert sorted(service.settings.corpus[0].iterdir()) == files
    first = list_articles(service.store)[0]
    with pytest.raises(CorpusError, match="The file is back at"):
        remove_article(service.settings, service.store, first.id)
    assert sorted(service.settings.corpus[0].iterdir()) == files


def test_the_last_article_can_be_removed(service: Service) -> None:
    for entry in list_articles(service.store):
        remove_article(service.settings, service.store, entry.id)
    assert list_articles(service.store) == [] and service.store.all_chunks() == []
    assert len(list((service.settings.index_dir / "removed").iterdir())) == 2


def test_removing_an_article_drops_its_chunks_and_keeps_its_file(service: Service, tmp_path: Path) -> None:
    add_article(service.settings, service.store, upload(tmp_path, "biblioteca.md", ARTICLE))
    entry, kept = remove_article(service.settings, service.store, "biblioteca")
    assert entry.title == "La biblioteca civica di Douai riapre"
    assert kept.read_text() == ARTICLE and kept.parent == service.settings.index_dir / "removed"
    assert "biblioteca" not in {e.id for e in list_articles(service.store)}
    assert all(c.article_id != "biblioteca" for c in service.store.all_chunks())
    assert all(h.chunk.article_id != "biblioteca" for h in service.retriever.search("biblioteca civica di Douai"))


def test_removing_an_unknown_article_is_a_clear_error(service: Service) -> None:
    with pytest.raises(CorpusError, match="No indexed article has id 'nope'"):
        remove_article(service.settings, service.store, "nope")


def test_warming_up_loads_the_search_side_before_the_first_question(settings: Settings) -> None:
    embeddings = HashEmbeddings()
    svc = build_service(settings, embeddings=embeddings, chat_model=scripted("ok"))
    ingest(settings, svc.store)
    assert svc.retriever._keyword is None  # nothing searched yet
    queries = []
    embed_query = embeddings.embed_query
    embeddings.embed_query = lambda text: queries.append(text) or embed_query(text)  # type: ignore[method-assign]
    svc.warm_up()
    assert svc.retriever._keyword is not None and len(svc.retriever._keyword.ids) > 0
    assert queries, "the embedder was not asked for a query vector"
