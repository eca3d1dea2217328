"""Dates written out per language, and whole dates and amounts around a copied span (rag/dates.py)."""

from __future__ import annotations

from rag.dates import long_date, states_date, whole_expression


def test_long_dates_in_each_language() -> None:
    assert long_date("2025-12-09", "it") == "9 dicembre 2025"
    assert long_date("2025-09-17", "en") == "17 September 2025"
    assert long_date("not a date", "it") == "not a date"


def test_a_span_inside_a_date_or_scaled_number_becomes_the_whole() -> None:
    assert whole_expression("1953", "KMJ-TV andò in onda il 1 giugno 1953.") == "1 giugno 1953"
    assert whole_expression("June 1", "It first aired on June 1, 1953 in Fresno.") == "June 1, 1953"
    assert whole_expression("550", "un investimento di 550 milioni di euro per") == "550 milioni di euro"
    assert whole_expression("2028", "a partire dall'inizio del 2028") == "2028"  # a year alone stays
    assert whole_expression("Douai", "lo stabilimento di Douai") == "Douai"


def test_a_day_is_recognised_however_each_language_writes_it() -> None:
    for text in ("on September 24, 2025 [1]", "il 24 settembre 2025", "24 September 2025", "2025-09-24", "24/09/2025"):
        assert states_date(text, "2025-09-24"), text
    for text in ("nel settembre 2025", "on September 23, 2025", "24 settembre 2024", "2025", ""):
        assert not states_date(text, "2025-09-24"), text
    assert not states_date("il 24 settembre 2025", "not a date")
