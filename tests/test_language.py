from __future__ import annotations

import pytest

from rag.language import detect_language


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("E Farley?", "it"),
        ("Who is Provost?", "en"),
        ("Quando arriveranno i nuovi modelli elettrici Ford?", "it"),
        ("When will the new Ford EVs reach European dealers?", "en"),
        ("Chi è il ceo di Nissan?", "it"),
        ("Quanto è costata la conversione di Douai?", "it"),
        ("How much did the Douai conversion cost?", "en"),
        ("Perché Ampere?", "it"),
        ("Why Ampere?", "en"),
        ("Renault e Ford annunciano una partnership per sviluppare due nuovi veicoli elettrici Ford in Europa.", "it"),
        ("Renault and Ford announce a partnership to develop two new Ford electric vehicles in Europe.", "en"),
        ("Alpine viene prodotto a Douai il modello A290 [2].", "it"),
        (
            "Lo stabilimento di Douai produce per 4 marche: Renault (Megane E-Tech Electric, Scenic E-Tech "
            "Electric e R5 E-Tech Electric), Alpine: (A290), Nissan Micra EV, Mitsubishi Eclipse Cross [3].",
            "it",
        ),
        ("The plant makes the Megane E-Tech Electric, the Scenic E-Tech Electric and the R5 for Renault.", "en"),
    ],
)
def test_detects_short_questions_and_names(text: str, lang: str) -> None:
    assert detect_language(text) == lang


def test_no_words_gives_the_default() -> None:
    assert detect_language("2028?", default="en") == "en"
    assert detect_language("", default="it") == "it"
