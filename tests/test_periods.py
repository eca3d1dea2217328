"""Time in a question and in a passage (rag/periods.py), in both languages."""

from __future__ import annotations

from datetime import date

import pytest

from rag.periods import Period, asks_when, day_number, event_reference, parse_time, relative_days, relative_to

TODAY = date(2026, 12, 2)
NEWEST = date(2025, 12, 9)


def _period(question: str, language: str = "it", newest: date | None = NEWEST) -> Period | None:
    return parse_time(question, language, TODAY, newest).period


@pytest.mark.parametrize(
    ("question", "language", "start", "end"),
    [
        ("Cosa è successo nel settembre 2025?", "it", date(2025, 9, 1), date(2025, 9, 30)),
        ("What happened in June 2025?", "en", date(2025, 6, 1), date(2025, 6, 30)),
        ("Che cosa ha annunciato Renault il 9 dicembre 2025?", "it", date(2025, 12, 9), date(2025, 12, 9)),
        ("What did Ford say on December 9, 2025?", "en", date(2025, 12, 9), date(2025, 12, 9)),
        ("Articles from 2025-09-17?", "en", date(2025, 9, 17), date(2025, 9, 17)),
        ("Quali notizie ci sono del 2024?", "it", date(2024, 1, 1), date(2024, 12, 31)),
        ("What happened at the end of 2025?", "en", date(2025, 9, 1), date(2025, 12, 31)),
        ("Cosa è successo a inizio 2025?", "it", date(2025, 1, 1), date(2025, 4, 30)),
    ],
)
def test_named_periods(question: str, language: str, start: date, end: date) -> None:
    period = _period(question, language)
    assert period is not None and (period.start, period.end) == (start, end)


def test_a_bare_month_is_its_latest_occurrence_the_archive_reaches() -> None:
    # today is December 2026, the newest article is from December 2025: "a dicembre" is December 2025
    period = _period("Cosa è successo a dicembre?")
    assert period is not None and (period.start, period.end) == (date(2025, 12, 1), date(2025, 12, 31))
    assert period.label == "dicembre 2025"
    # a month later in the year than the anchor is last year's
    period = _period("What happened in March?", "en", newest=date(2026, 2, 10))
    assert period is not None and period.start == date(2025, 3, 1) and period.label == "March 2025"


def test_relative_expressions_are_read_against_today() -> None:
    cases = {
        "Cosa è successo l'anno scorso?": (date(2025, 1, 1), date(2025, 12, 31)),
        "What was reported last month?": (date(2026, 11, 1), date(2026, 11, 30)),
        "Which articles came out this year?": (date(2026, 1, 1), date(2026, 12, 31)),
        "Cosa è successo ieri?": (date(2026, 12, 1), date(2026, 12, 1)),
        "What happened in the last 3 months?": (date(2026, 9, 2), TODAY),
    }
    for question, (start, end) in cases.items():
        period = _period(question, "en")
        assert period is not None and (period.start, period.end) == (start, end), question


def test_before_and_since_bound_the_range() -> None:
    before = _period("What did Renault do before October 2025?", "en")
    assert before is not None and before.end == date(2025, 9, 30) and before.start.year == 1900
    since = _period("Cosa è cambiato dal maggio 2023?")
    assert since is not None and since.start == date(2023, 5, 1) and since.end == TODAY


def test_future_years_are_events_not_publication_dates() -> None:
    # no article can come from 2028: the year is what the question asks about, not when it was written
    assert _period("Cosa succederà dal 2028?") is None
    # two periods, one in the future: only the past one limits the search
    period = _period("What is expected at the end of 2025 and what in early 2028?", "en")
    assert period is not None and (period.start, period.end) == (date(2025, 9, 1), date(2025, 12, 31))


def test_no_time_and_words_that_only_look_like_months() -> None:
    for question in (
        "Chi guida Renault Group?",
        "Which models may be built in Douai?",  # "may" the verb
        "In che anno è nata la ABC?",
        "Quanti veicoli produce Douai?",
    ):
        assert not parse_time(question, "it", TODAY, NEWEST), question


def test_orders_are_asked_of_articles() -> None:
    assert parse_time("Qual è l'articolo più recente su Ampere?", "it", TODAY).order == "latest"
    assert parse_time("What does the latest article on Renault say?", "en", TODAY).order == "latest"
    assert parse_time("Le ultime notizie su Ford?", "it", TODAY).order == "latest"
    assert parse_time("Which was the first article about the alliance?", "en", TODAY).order == "earliest"
    # "the latest models" is about cars, not about articles
    assert parse_time("What are the latest models built at Douai?", "en", TODAY).order == ""


def test_two_periods_in_the_order_named() -> None:
    asked = parse_time("Cosa è cambiato tra settembre e dicembre?", "it", TODAY, NEWEST)
    assert [p.label for p in asked.periods] == ["settembre 2025", "dicembre 2025"]


def test_relative_days_of_a_passage_are_read_against_its_article() -> None:
    found = relative_days("la versione Bev sarà svelata quest'oggi.", "2025-09-17")
    assert [(r.words, r.day, r.offset) for r in found] == [("quest oggi", date(2025, 9, 17), 0)]
    found = relative_days("The line opened yesterday; tickets go on sale tomorrow.", "2025-03-14")
    assert [(r.day, r.offset) for r in found] == [(date(2025, 3, 13), -1), (date(2025, 3, 15), 1)]
    assert relative_days("oggi", "") == []  # an undated article: nothing to read it against


def test_when_questions_and_day_numbers() -> None:
    assert asks_when("Quando sarà svelata la versione Bev?") and asks_when("On what day did the line open?")
    assert not asks_when("Chi guida Renault?")
    assert day_number("2025-12-09") == 20251209 and day_number("") == 0 and day_number(date(2024, 2, 29)) == 20240229


def test_articles_placed_by_an_event_rather_than_a_date() -> None:
    assert event_reference("Which articles came out before the Ford deal?") == ("before", "ford deal")
    assert event_reference("Cosa riportavano gli articoli dopo l'incontro di Douai?") == ("after", "incontro di douai")
    assert event_reference("Which cars were built before the electric conversion?") is None  # not about articles
    assert event_reference("Which articles came out before October 2025?") is None  # a date, parsed as one
    period = relative_to("before", date(2025, 12, 9), "ford deal")
    assert period.end == date(2025, 12, 8) and not period.contains(date(2025, 12, 9))


def test_a_bare_month_shares_the_year_of_the_month_it_is_paired_with() -> None:
    asked = parse_time("Com'è cambiata la frequenza tra marzo e ottobre 2025?", "it", TODAY, date(2026, 10, 6))
    assert [p.label for p in asked.periods] == ["marzo 2025", "ottobre 2025"]
