from __future__ import annotations

import pytest

from rag.numbers import numbers_in


def test_numbers_are_normalized_like_the_keyword_analyzer() -> None:
    assert numbers_in("3.000 persone, 1,500 auto, 4,2 per cento, versione 1.2.3") == {"3000", "1500", "4.2%", "1.2.3"}


def test_a_percentage_keeps_its_sign() -> None:
    assert numbers_in("due modelli 100% elettrici, il 3,5 per cento") == {"100%", "3.5%"}


@pytest.mark.parametrize(
    ("italian", "english"),
    [
        ("4,2 miliardi di sterline", "4.2 billion pounds"),
        ("550 milioni di euro", "550 million euros"),
        ("1.500 milioni", "1,500 million"),
        ("20 mila abitanti", "20 thousand inhabitants"),
        ("1.234.567 abitanti", "1,234,567 inhabitants"),
    ],
)
def test_a_scaled_number_states_the_same_value_in_both_languages(italian: str, english: str) -> None:
    assert numbers_in(english) <= numbers_in(italian, source=True)
    assert numbers_in(italian) <= numbers_in(english, source=True)


def test_another_scale_is_another_number() -> None:
    assert not numbers_in("4,2 million") <= numbers_in("4,2 miliardi di sterline", source=True)
    assert not numbers_in("550 milioni") <= numbers_in("550 mila", source=True)


def test_a_passage_backs_the_bare_number_of_its_scaled_one() -> None:
    assert numbers_in("550") <= numbers_in("550 milioni di euro", source=True)


@pytest.mark.parametrize(
    ("passage", "answer"),
    [
        ("si svolge ogni quattro anni", "every 4 years"),
        ("cinque membri permanenti", "5 permanent members"),
        ("it lasted twelve days", "è durata 12 giorni"),
        ("due milioni di persone", "2 million people"),
        ("un milione di visitatori", "1 million visitors"),
        ("circa novanta chilometri", "about 90 km"),
    ],
)
def test_a_spelled_out_number_in_a_passage_backs_the_digits(passage: str, answer: str) -> None:
    assert numbers_in(answer) and numbers_in(answer) <= numbers_in(passage, source=True)


def test_an_answers_number_words_are_not_claims_to_check() -> None:
    # "the two companies", "one of the most important": nothing a passage must state in digits
    assert numbers_in("One of the two companies signed it.") == set()
    assert numbers_in("Una delle due aziende ha firmato.") == set()
