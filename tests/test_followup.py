"""Which chat messages lean on the conversation (and so are rewritten before retrieval)."""

from __future__ import annotations

import pytest

from rag.followup import leans_on_history


@pytest.mark.parametrize(
    "message",
    [
        "E quando arriveranno nei concessionari?",
        "E Farley?",
        "Dove verranno prodotti?",  # short: the subject is in the conversation
        "Quanto costerà la loro produzione a Douai?",
        "What about Nissan and Mitsubishi?",
        "And how much will the plant in France cost?",
        "Where will they be built, and by whom?",
        "Who leads it?",
    ],
)
def test_follow_ups_are_recognised(message: str) -> None:
    assert leans_on_history(message)


@pytest.mark.parametrize(
    "message",
    [
        "Quanto è stato investito nello stabilimento di Douai?",
        "Quali nuovi modelli lancerà Ford grazie all'accordo con Renault?",
        "Chi è il CEO di Renault Group?",
        "How much money was invested to convert the Douai plant?",
        "What is the name of the plant in Douai?",
        "When will the new Ford EVs reach European dealers?",
    ],
)
def test_questions_that_stand_alone_are_not(message: str) -> None:
    assert not leans_on_history(message)
