"""The news-aware steps (rag/answer/news.py) with the fake embedder and a scripted model: questions about
the articles, periods, orders, gaps, changes and relative days, over dated articles in both languages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import rag.answer.relative
from rag.answer.articles import article_question, cards, names_in
from rag.ingest import ingest
from rag.library import list_articles, select_articles
from rag.periods import between
from rag.service import Service, build_service
from rag.settings import Settings
from rag.store import LAYOUT
from rag.types import Scope
from tests.fakes import HashEmbeddings, ScriptedChat, scripted
from ui.app import respond
from ui.articles import shown_articles

# an English article without an author, from a month the seeds do not cover, on the seeds' subject
DOUAI_EN = """---
title: Ampere's Douai plant starts the new Micra line
date: '2025-10-06'
publication: Northbridge Courier
language: en
---

Ampere's plant in Douai started building the new electric Micra today, three weeks after the Alliance board
met there. The plant now builds seven electric models for Renault, Nissan, Mitsubishi Motors and Alpine.
Production of the Micra is planned at 300 cars a day by the end of the year, the plant manager said.
"""


@pytest.fixture
def news_settings(settings: Settings, corpus_dir: Path) -> Settings:
    (corpus_dir / "douai_en.md").write_text(DOUAI_EN, encoding="utf-8")
    return settings.model_copy(update={"min_dense_score": 0.0, "today": "2026-12-02", "reader": "compose"})


def _service(settings: Settings, chat: ScriptedChat | None = None) -> Service:
    service = build_service(settings, embeddings=HashEmbeddings(), chat_model=chat or scripted("NOT_FOUND"))
    ingest(settings, service.store)
    return service


def test_questions_about_an_article_are_answered_from_its_metadata(news_settings: Settings) -> None:
    chat = scripted("NOT_FOUND")
    service = _service(news_settings, chat)
    author = service.pipeline.ask("Chi ha scritto l'articolo sull'alleanza Renault–Ford?")
    assert "Fabrizio Gimena" in author.answer and author.route == "metadata:author" and not author.abstained
    # cited to the article's header, the line its metadata came from
    assert author.citations[0].sentence and "Fabrizio Gimena" in author.citations[0].sentence
    published = service.pipeline.ask("When was the article on the Renault–Ford alliance published?")
    assert "9 December 2025" in published.answer and published.language == "en"
    pubblicato = service.pipeline.ask("In che giorno è stato pubblicato l'articolo sull'alleanza Renault–Ford?")
    assert "9 dicembre 2025" in pubblicato.answer
    where = service.pipeline.ask("Which newspaper ran the story on the new Micra line in Douai?")
    assert "Northbridge Courier" in where.answer
    assert chat.prompts == []  # none of these needed the model


def test_a_missing_author_is_said_not_guessed(news_settings: Settings) -> None:
    service = _service(news_settings)
    answer = service.pipeline.ask("Who wrote the article about the new Micra line at Douai?")
    assert answer.route == "metadata:author" and "does not name its author" in answer.answer
    italian = service.pipeline.ask("Chi ha firmato l'articolo sulla nuova linea Micra di Douai?")
    assert "non indica l'autore" in italian.answer


def test_articles_on_a_subject_are_counted_and_listed_by_date(news_settings: Settings) -> None:
    service = _service(news_settings)
    counted = service.pipeline.ask("Quanti articoli parlano di Douai?")
    assert counted.route == "metadata:count" and "**2**" in counted.answer
    assert [c.date for c in counted.citations] == ["2025-09-17", "2025-10-06"]
    listed = service.pipeline.ask("Which articles are about Ampere?")
    assert len(listed.citations) == 3  # the Ford article names Ampere's platform too


def test_a_period_limits_the_search_and_an_empty_one_is_not_covered(news_settings: Settings) -> None:
    chat = scripted("NOT_FOUND")
    service = _service(news_settings, chat)
    uncovered = service.pipeline.ask("Cosa è successo a Douai nel giugno 2025?")
    assert uncovered.abstained and uncovered.route == "uncovered" and "giugno 2025" in uncovered.answer
    assert chat.prompts == []  # not answered from articles outside the period
    service.pipeline.ask("What did Ampere start building in October 2025?")
    prompt = str(chat.prompts[-1][-1].content)
    assert "Micra line" in prompt and "Renault–Ford" not in prompt  # only October's article was shown


def test_the_latest_article_is_chosen_by_date_not_by_similarity(news_settings: Settings) -> None:
    service = _service(news_settings)
    latest = service.pipeline.ask("Qual è l'articolo più recente su Douai?")
    assert latest.route == "metadata:latest" and latest.citations[0].date == "2025-10-06"
    earliest = service.pipeline.ask("Which is the first article about Ampere?")
    assert earliest.citations[0].date == "2025-09-17"


def test_the_gap_between_two_articles_is_computed_and_both_are_cited(news_settings: Settings) -> None:
    service = _service(news_settings)
    answer = service.pipeline.ask("How many months passed between the articles on Renault and Ford?")
    # one article names both: a single article has no interval
    assert answer.route == "gap"
    gap = service.pipeline.ask("Quanti giorni sono passati tra gli articoli su Douai?")
    assert "19 giorni" in gap.answer and [c.date for c in gap.citations] == ["2025-09-17", "2025-10-06"]


def test_what_changed_between_two_periods_is_shown_side_by_side(news_settings: Settings) -> None:
    service = _service(news_settings)
    answer = service.pipeline.ask("What changed at Douai between September and October?")
    assert answer.route == "changes" and not answer.abstained
    lines = [line for line in answer.answer.splitlines() if line.startswith("- ")]
    assert len(lines) == 2 and "September 2025" in lines[0] and "October 2025" in lines[1]
    assert [c.date for c in answer.citations] == ["2025-09-17", "2025-10-06"]


def test_a_relative_day_in_the_cited_sentence_is_read_against_the_article(news_settings: Settings) -> None:
    def reply(messages: list) -> str:  # cite the passage that holds "quest'oggi"
        user = str(messages[-1].content)
        for block in user.split("\n\n["):
            if "quest'oggi" in block:
                number = block.lstrip("[").split("]")[0]
                return f"La versione Bev della Eclipse Cross sarà svelata quest'oggi [{number}]."
        return "NOT_FOUND"

    service = _service(news_settings, scripted(reply))
    answer = service.pipeline.ask("Quando sarà svelata la versione Bev della Mitsubishi Eclipse Cross?")
    assert not answer.abstained, answer.answer
    assert answer.answer.startswith("**17 settembre 2025**") and "il giorno dell'articolo" in answer.answer


def test_without_an_answer_a_relative_day_is_shown_as_evidence_not_asserted(news_settings: Settings) -> None:
    # the reader finds nothing: the closest sentence with "quest'oggi" is shown with its day worked out, as
    # evidence, and the answer stays an abstention (it may be about another event of the same sentence)
    service = _service(news_settings, scripted("NOT_FOUND"))
    answer = service.pipeline.ask("Quando sarà svelata la versione Bev della Mitsubishi Eclipse Cross?")
    assert answer.abstained and answer.outcome == "evidence" and answer.route == "relative-day"
    assert "quest'oggi" in answer.answer and "17 settembre 2025" in answer.answer and not answer.short_answer
    assert [c.date for c in answer.citations] == ["2025-09-17"]


STADIUM_EN = """---
title: Northbridge Rovers' board backs a new stadium
date: '2025-10-21'
publication: Northbridge Courier
language: en
---

Northbridge Rovers' board approved plans yesterday for a new 12,000-seat stadium at Millfield.
The club expects building work to start next spring, once the council has granted permission.
"""


STADIUM_LATER_EN = """---
title: Northbridge Rovers' stadium plans revised
date: '2025-11-03'
publication: Northbridge Courier
language: en
---

Northbridge Rovers' board approved the stadium plans again yesterday.
"""


def test_an_answer_that_gives_the_headers_date_is_corrected_by_its_relative_day(
    news_settings: Settings, corpus_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the fake embedder spreads similarities wider than a real one: both "yesterday" sentences count as close
    monkeypatch.setattr(rag.answer.relative, "RELATIVE_MARGIN", 1.0)
    # the model reads the header's date as the event's day: "approved yesterday" under 21 October is the 20th
    (corpus_dir / "stadium_en.md").write_text(STADIUM_EN, encoding="utf-8")
    # a later article's "yesterday" is as close to the question: the day comes from the article the model read
    (corpus_dir / "stadium_later_en.md").write_text(STADIUM_LATER_EN, encoding="utf-8")

    def reply(messages: list) -> str:
        cited = re.search(r"\[(\d+)\][^\[]*yesterday", str(messages[-1].content))
        return f"The board approved the stadium plans on October 21, 2025 [{cited[1]}]." if cited else "NOT_FOUND"

    service = _service(news_settings, scripted(reply))
    answer = service.pipeline.ask("When did Northbridge Rovers' board approve the stadium plans?")
    assert not answer.abstained and answer.route == "relative-day", answer.answer
    assert answer.answer.startswith("**20 October 2025**") and "21 October 2025" in answer.answer  # the header
    assert answer.short_answer == "20 October 2025" and [c.date for c in answer.citations] == ["2025-10-21"]
    # with the real margin, the sentence with the relative day is not close enough to this question: the
    # answer is left as given
    monkeypatch.undo()
    spring = service.pipeline.ask("When does the building work start at Millfield?")
    assert spring.route != "relative-day"


def test_the_callers_range_wins_and_bad_ranges_are_refused(news_settings: Settings) -> None:
    chat = scripted("NOT_FOUND")
    service = _service(news_settings, chat)
    answer = service.pipeline.ask("Chi guida Renault Group?", period=between("2024-01-01", "2024-12-31"))
    assert answer.route == "uncovered" and chat.prompts == []
    with pytest.raises(ValueError, match="yyyy-mm-dd"):
        between("9/12/2025", "")
    with pytest.raises(ValueError, match="before it starts"):
        between("2025-12-31", "2025-01-01")


def test_the_store_filters_by_day_with_chromas_where(news_settings: Settings) -> None:
    service = _service(news_settings)
    scope = Scope(20251001, 20251031)
    hits = service.retriever.search("Douai Micra Renault Ford", k=5, scope=scope)
    assert hits and {h.chunk.date for h in hits} == {"2025-10-06"}
    vector = service.store.embed_query("Douai")
    assert {c.date for c, _ in service.store.dense_search(vector, 10, scope)} == {"2025-10-06"}
    october = {c.id for c in service.retriever.chunks() if c.date == "2025-10-06"}
    matches = service.store.sentence_search(vector, 50, scope)
    assert matches and {m.chunk_id for m in matches} <= october
    unscoped = service.store.sentence_search(vector, 50)
    assert {m.chunk_id for m in unscoped} - october  # without the scope, other articles' sentences come too


def test_kinds_and_names_of_questions() -> None:
    assert article_question("Chi ha scritto l'articolo sull'alleanza?") == "author"
    assert article_question("When was the Douai story published?") == "date"
    assert article_question("When was the agreement signed?") == ""  # the content's date, not the article's
    assert article_question("Su quale testata è uscito il pezzo su Ford?") == "publication"
    assert article_question("What is the headline of the article on Ampere?") == "title"
    assert article_question("How many articles are there on Renault?") == "count"
    assert article_question("Quali articoli parlano di Ampere?") == "list"
    assert article_question("What do the articles say about Ampere?") == ""
    assert names_in("Chi ha scritto l'articolo sull'alleanza Renault–Ford?") == ["renault", "ford"]
    assert names_in("How many articles are there on Ampere in December?") == ["ampere"]


def test_cards_are_one_per_article_sorted_by_date(news_settings: Settings) -> None:
    service = _service(news_settings)
    found = cards(service.retriever.chunks())
    assert [c.date for c in found] == ["2025-09-17", "2025-10-06", "2025-12-09"]
    assert [c.author for c in found] == ["", "", "Fabrizio Gimena"]


def test_an_index_of_the_previous_layout_gets_its_days_in_place(news_settings: Settings) -> None:
    service = _service(news_settings)
    store = service.store
    chunks, sentences = store._collection(), store._sentences()
    for collection in (chunks, sentences):  # as the previous layout stored them: no `day`
        data = collection.get(include=["metadatas"])
        collection.update(ids=data["ids"], metadatas=[{**m, "day": None} for m in data["metadatas"]])
    chunks.modify(metadata={**chunks.metadata, "layout": "chunks+sentences/3"})
    embedded = store.embeddings.calls
    assert store.open_for_writing() == ""  # not rebuilt
    assert store.embeddings.calls == embedded  # nothing embedded again
    assert store.layout() == LAYOUT
    days = {m["day"] for m in store._sentences().get(include=["metadatas"])["metadatas"]}
    assert days == {20250917, 20251006, 20251209}
    report = ingest(news_settings, store)
    assert report.added == 0 and report.rebuilt == ""


def test_the_articles_tab_filters_by_period_and_publication_and_sorts(news_settings: Settings) -> None:
    service = _service(news_settings)
    entries = list_articles(service.store)
    autumn = select_articles(entries, between("2025-09-01", "2025-10-31"), sort="oldest")
    assert [e.date for e in autumn] == ["2025-09-17", "2025-10-06"]
    assert [e.publication for e in select_articles(entries, publication="Motori.it")] == ["Motori.it"]
    assert [e.title[:4] for e in select_articles(entries, sort="title")] == sorted(e.title[:4] for e in entries)
    assert "Fabrizio Gimena" in shown_articles(service, "", "", "", "newest")
    assert "yyyy-mm-dd" in shown_articles(service, "dicembre", "", "", "newest")


def test_the_chats_date_range_reaches_the_search(news_settings: Settings) -> None:
    service = _service(news_settings)
    *_, (history, _box, _turns, _status) = respond(service, "Chi guida Renault?", [], since="2024-01-01",
                                                   until="2024-06-30")  # fmt: skip
    assert "2024-01-01" in history[-1]["content"] and "Nessun articolo" in history[-1]["content"]
    *_, (history, box, _turns, status) = respond(service, "Chi guida Renault?", [], since="ieri")
    assert "yyyy-mm-dd" in history[-1]["content"] and box == "Chi guida Renault?" and status.startswith("⚠️")


def test_articles_before_an_event_are_those_dated_before_its_article(news_settings: Settings) -> None:
    service = _service(news_settings)
    answer = service.pipeline.ask("Which articles came out before the Renault–Ford alliance?")
    assert answer.route == "metadata:list"
    assert [c.date for c in answer.citations] == ["2025-09-17", "2025-10-06"]
