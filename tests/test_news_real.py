"""News-aware answers with the real embedder and the real local LLM over dated fixture articles in both
languages: the same question gets the answer of the period it names, and a "when" answered by "today"
becomes the article's date."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.ingest import ingest
from rag.service import Service, build_service
from rag.settings import Settings

pytestmark = pytest.mark.slow
NEWS = Path(__file__).resolve().parent / "fixtures" / "news"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    settings = Settings(corpus=(NEWS,), index=tmp_path_factory.mktemp("index"), today="2026-12-02")
    svc = build_service(settings)
    ingest(settings, svc.store)
    yield svc


def test_the_period_named_decides_which_articles_answer(service: Service) -> None:
    # the approval (April 2024) planned 30 cabins, the opening (July 2025) had 36: the period picks
    planned = service.pipeline.ask("Quante cabine prevedeva la funivia del Monte Ceriso nell'aprile 2024?")
    opened = service.pipeline.ask("How many cabins did the Monte Ceriso cable car have in July 2025?")
    assert planned.route == opened.route == "period"
    assert "30" in planned.answer and "36" not in planned.answer
    assert "36" in opened.answer and opened.language == "en"
    assert {c.date for c in planned.citations} == {"2024-04-10"} and {c.date for c in opened.citations} == {
        "2025-07-02"
    }


def test_a_period_without_articles_is_not_answered_from_others(service: Service) -> None:
    answer = service.pipeline.ask("Quante cabine aveva la funivia del Monte Ceriso nel 2023?")
    assert answer.abstained and answer.route == "uncovered"


def test_today_in_the_passage_is_the_articles_date(service: Service) -> None:
    answer = service.pipeline.ask("When did the Monte Ceriso cable car open to the public?")
    assert not answer.abstained and "2 July 2025" in answer.answer
