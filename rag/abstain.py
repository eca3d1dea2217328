"""The abstention decision: whether a verified answer is given, or withheld as "the articles don't say".

It weighs what is known once the model has answered (`Signals`): the model's own probability of
replying with the not-found marker, read from the forward pass over the prompt (rag/models/reader.py);
how close the best retrieved sentence is to the question; and whether the cited sentences and the
retrieved passages state the question's names, numbers and qualifiers (rag/premise.py), which
is where a false premise shows. The thresholds (`Policy`) are chosen on the development split of
the eval sets by evals/tune_abstain.py, which also draws the held-out coverage-accuracy curve.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from .language import detect_language
from .premise import Check, check, premise_of
from .types import Chunk


@dataclass(frozen=True)
class Signals:
    """What the decision sees about one answer."""

    not_found: float | None  # the model's probability of opening with the not-found marker (None: unknown)
    top_sentence: float  # the best retrieved sentence's similarity to the question
    cited: Check  # the question's premise against the cited sentences and their articles' headers
    passages: Check  # the question's premise against the retrieved passages in the question's language


@dataclass(frozen=True)
class Policy:
    """When to withhold an answer; each rule can be off."""

    max_not_found: float = 1.0  # withhold when the model's not-found probability is above this (1: off)
    min_top_sentence: float = 0.0  # withhold when the best sentence is less similar than this (0: off)
    names_in_passages: bool = False  # withhold when a name of the question is in no retrieved passage of its language
    near_names: bool = False  # withhold when the passages hold a name of the question only misspelt
    names_in_cited: bool = False  # withhold when the cited sentences do not hold a name of the question
    numbers_in_cited: bool = False  # ... a number of the question
    qualifiers: bool = False  # withhold when the cited sentences state the opposite of a qualifier


@dataclass(frozen=True)
class ReaderPolicy:
    """When a span is given, shown as evidence only, or withheld."""

    max_not_found: float = 1.0  # above this not-found probability, no answer (1: off)
    min_span_logprob: float = -math.inf  # below this span confidence, no answer (-inf: off)
    min_supported: float = 0.0  # below this P(yes) of the check (rag/answer/formats.py), no answer (0: off)
    min_evidence_sentence: float = 0.0  # evidence only when the best sentence is at least this close
    premise: Policy = field(default_factory=Policy)  # the premise rules (rag/abstain.py); their other
    # thresholds are the ones above


ABSTAIN_RULES = ("names_in_passages", "near_names", "names_in_cited", "numbers_in_cited", "qualifiers")


def top_sentence(scores: Iterable[float | None]) -> float:
    """The best retrieved sentence's similarity, the `top_sentence` signal (0 without any)."""
    return max((score or 0.0 for score in scores), default=0.0)


def signals_for(
    question: str,
    not_found: float | None,
    top_sentence: float,
    passages: list[Chunk],
    cited: list[tuple[Chunk, str]],
) -> Signals:
    """The signals of an answer to `question` citing `cited` (passage, sentence) among the retrieved `passages`.

    A name's absence counts only when a passage is written in the question's language: across languages
    a name is often translated ("Catholics" / "cattolici", "EVs" / "veicoli elettrici"), and its absence
    from them means nothing. Its presence counts in any language: an Italian question about "Lettere sul
    Lago" is answered from the English article that names the festival, among Italian ones that do not.
    """
    premise = premise_of(question)
    language = detect_language(question)
    cited_text = "\n".join(f"{chunk.header()}\n{sentence}" for chunk, sentence in cited)
    passages_text = "\n".join(f"{chunk.header()}\n{chunk.text}" for chunk in passages)
    if not any(chunk.language == language for chunk in passages):  # nowhere to miss a name: none is missing
        premise = replace(premise, names=())
    return Signals(not_found, top_sentence, check(premise, cited_text), check(premise, passages_text))


def withhold(signals: Signals, policy: Policy) -> str:
    """Why the answer is withheld under `policy` ("" when it is given).

    Example: not_found 0.8 with max_not_found 0.5 -> "the model leans to not found (0.80)"
    """
    if signals.not_found is not None and signals.not_found > policy.max_not_found:
        return f"the model leans to not found ({signals.not_found:.2f})"
    if signals.top_sentence < policy.min_top_sentence:
        return f"no sentence is close to the question ({signals.top_sentence:.2f})"
    if policy.names_in_passages and signals.passages.missing_names:
        return f"no passage names {', '.join(signals.passages.missing_names)}"
    if policy.near_names and signals.passages.near_names:
        return f"the passages spell {', '.join(signals.passages.near_names)} otherwise"
    if policy.names_in_cited and signals.cited.missing_names:
        return f"the cited sentences do not name {', '.join(signals.cited.missing_names)}"
    if policy.numbers_in_cited and signals.cited.missing_numbers:
        return f"the cited sentences do not state {', '.join(signals.cited.missing_numbers)}"
    if policy.qualifiers and signals.cited.contradicted:
        return f"the cited sentences say the opposite of {', '.join(signals.cited.contradicted)}"
    return ""
