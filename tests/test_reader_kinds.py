"""The kind of answer a question asks for, and the evidence's spans of that kind (rag/answer/kinds.py)."""

from __future__ import annotations

import pytest

from rag.answer.evidence import Evidence, gather
from rag.answer.kinds import ANY, DATE, NUMBER, PERSON, choices_for, expected_kind, spans_of
from rag.types import Chunk, Hit


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Quando è stata firmata l'intesa tra Renault Group e Ford?", DATE),
        ("In che anno è nata la città?", DATE),
        ("According to the article, in what year did the plant open?", DATE),
        ("Quanti posti di lavoro prevede il piano?", NUMBER),
        ("How much will Ford invest?", NUMBER),
        ("How long did the talks last?", NUMBER),
        ("Chi guida la casa giapponese?", PERSON),
        ("Secondo l'articolo, chi ha firmato?", PERSON),
        ("Who heads the Japanese manufacturer whose range includes the Eclipse Cross?", PERSON),
        ("In which country will the cars be built?", ANY),
        ("Come descrive Provost il mercato?", ANY),
        ("What does the tie-up bring, and when?", ANY),
        ("Renault e Ford", ANY),
    ],
)
def test_the_first_question_word_says_the_kind(question: str, kind: str) -> None:
    assert expected_kind(question) == kind


def _evidence(*sentences: str) -> list[Evidence]:
    text = " ".join(sentences)
    chunk = Chunk("c1", "a1", "T", "2025-12-10", "it", "unknown", text, 0, len(text), 0)
    hit = Hit(chunk=chunk, rank=1, score=1.0)
    return [Evidence(i + 1, hit, s, 0.9 - i / 10) for i, s in enumerate(sentences)]


def test_dates_come_whole_closest_sentence_first_and_not_those_the_question_says() -> None:
    evidence = _evidence(
        "L’intesa, siglata il 9 dicembre 2025 tra Parigi e Colonia, entra in vigore nel 2028.",
        "Nel 2024 Renault aveva annunciato Ampere; ieri il piano è stato confermato.",
    )
    dates = choices_for(DATE, "Quando è stata firmata l'intesa?", evidence)
    assert dates == ["9 dicembre 2025", "2028", "2024", "ieri"]
    assert "2024" not in choices_for(DATE, "Cosa accadde dopo il 2024?", evidence)


def test_amounts_keep_their_scale_and_unit_and_a_date_s_day_is_not_one() -> None:
    evidence = _evidence("Il 9 dicembre Ford promise 550 milioni di euro e 3,5 per cento delle quote a 322 dipendenti")
    assert choices_for(NUMBER, "Quanto investirà Ford?", evidence) == [
        "550 milioni di euro",
        "3,5 per cento",
        "322 dipendenti",
    ]


def test_names_drop_a_sentence_s_capitalised_opening_and_the_names_the_question_holds() -> None:
    evidence = _evidence("L’amministratore delegato di Mitsubishi Motors, Takao Kato, ha incontrato Luca de Meo.")
    assert choices_for(PERSON, "Chi guida Mitsubishi Motors?", evidence) == ["Takao Kato", "Luca de Meo"]
    assert choices_for(ANY, "Chi guida Mitsubishi Motors?", evidence) == []


def test_when_no_shown_sentence_holds_the_kind_the_last_gives_way_to_the_closest_that_does() -> None:
    text = "Renault e Ford uniscono le forze. L'accordo è ampio. Fu firmato il 9 dicembre 2025."
    chunk = Chunk("c1", "a1", "T", "2025-12-10", "it", "unknown", text, 0, len(text), 0)
    hit = Hit(chunk=chunk, rank=1, score=1.0, sentence_scores=(0.9, 0.8, 0.4), spans=((0, 33), (34, 52), (53, 83)))
    question = "Quando è stato firmato l'accordo?"
    plain = gather([hit], 2)
    assert [e.sentence for e in plain] == ["Renault e Ford uniscono le forze.", "L'accordo è ampio."]
    typed = gather([hit], 2, lambda s: bool(spans_of(DATE, question, s)))
    assert [e.sentence for e in typed] == ["Renault e Ford uniscono le forze.", "Fu firmato il 9 dicembre 2025."]
    assert [e.number for e in typed] == [1, 2]
