"""What a question takes for granted, and whether a text states it: its names, numbers and qualifiers.

A question can carry a false premise the model then answers as if it were true: a misspelt or swapped
name ("Louis Poussin" for Louis Pouzin), a date the articles never give, "least" where they say
"most". These checks are lexical and cheap; the abstention decision (rag/abstain.py) weighs them
with the model's own probabilities and the retrieval scores.

Names are the capitalized words of a question past its first, except those English capitalizes without
their being names (months, nationalities, titles, "River"), which an Italian text would translate.
They compare without accents and case, and a name counts as stated when the text holds it or a
form of it sharing all but its last letters ("Tesla's" / "Tesla"); a name the text holds only
with a letter or two changed is *near* ("Poussin" / "Pouzin"), the signature of a misspelling.
Numbers compare across languages and formats (rag/numbers.py). Qualifiers are concepts with
their Italian and English words, so "least" is contradicted by a text saying "più" and not "meno".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from .keyword import STOPWORDS
from .numbers import numbers_in
from .textutil import strip_accents

_WORD = re.compile(r"[^\W\d_][\w'’-]*", re.UNICODE)
_QUESTION_WORDS = frozenset(
    "chi cosa che quale quali quando dove come perche quanto quanta quanti quante in a da di per con su tra fra "
    "secondo nel nella nei negli del della dei degli il lo la i gli le un una uno "
    "who what which when where why how whose whom in on at by for from of to according during after before "
    "since the a an is was are were did does do".split()
)

# words English capitalizes that are not names, and that an Italian text writes in lower case or translates:
# months, days, nationalities and languages, titles, and the common nouns of place names
_NOT_NAMES = frozenset(
    "january february march april may june july august september october november december "
    "monday tuesday wednesday thursday friday saturday sunday "
    "english british britain french german germans italian italians spanish portuguese dutch european europeans "
    "american americans chinese japanese russian greek roman romans latin arab arabic african asian "
    "christian christians catholic protestant muslim jewish bible scriptures god church "
    "king queen prince princess emperor empress pope saint sir lord lady president prime minister duke "
    "river lake mount mountain sea ocean island islands kingdom republic empire united states north south east "
    "west northern southern eastern western city university college school museum war world".split()
)

# each concept with its words in both languages; a qualifier's opposite contradicts it
QUALIFIERS: dict[str, frozenset[str]] = {
    "most": frozenset(
        "most più piu maggiore maggiori massimo massima massimi massime largest biggest greatest".split()
    ),
    "least": frozenset("least meno minore minori minimo minima minimi minime smallest fewest lowest".split()),
    "first": frozenset("first primo prima primi prime earliest".split()),
    "last": frozenset("last ultimo ultima ultimi ultime latest final".split()),
    "highest": frozenset("highest alto alta alti alte maximum".split()),
    "lowest": frozenset("lowest basso bassa bassi basse minimum".split()),
    "longest": frozenset("longest lungo lunga lunghi lunghe".split()),
    "shortest": frozenset("shortest corto corta corti corte breve brevi".split()),
    "oldest": frozenset("oldest antico antica antichi antiche vecchio vecchia".split()),
    "newest": frozenset("newest recente recenti nuovo nuova".split()),
}
OPPOSITES = {
    "most": "least",
    "least": "most",
    "first": "last",
    "last": "first",
    "highest": "lowest",
    "lowest": "highest",
    "longest": "shortest",
    "shortest": "longest",
    "oldest": "newest",
    "newest": "oldest",
}
# a few qualifiers are also everyday words; these count only in the question, as the premise
_AMBIGUOUS = frozenset("prima alto alta nuovo nuova breve final".split())


@dataclass(frozen=True)
class Premise:
    """What a question asserts about its subject, as it wrote it."""

    names: tuple[str, ...]  # capitalized words past the first ("Scheele", "Fort", "Caroline")
    numbers: frozenset[str]  # as rag/numbers.py reads them ("1777", "4200000000")
    qualifiers: tuple[str, ...]  # concepts of QUALIFIERS ("least", "first")


@dataclass(frozen=True)
class Check:
    """How a text stands to a question's premise."""

    missing_names: tuple[str, ...]  # names the text does not hold, near or otherwise
    near_names: tuple[str, ...]  # of those, the ones it holds with a letter or two changed
    missing_numbers: tuple[str, ...]
    contradicted: tuple[str, ...]  # qualifiers whose opposite the text states without them

    @property
    def holds(self) -> bool:
        return not (self.missing_names or self.missing_numbers or self.contradicted)


def _fold(word: str) -> str:
    return strip_accents(word).casefold().replace("’", "'").strip("'-")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    return frozenset(_fold(w) for lang in ("it", "en") for w in STOPWORDS[lang]) | _QUESTION_WORDS


def _elided(word: str) -> str:
    """The word without an Italian elided article or an English possessive: "dell'Università" -> "Università"."""
    parts = re.split(r"['’]", word)
    if len(parts) == 1:
        return word
    return parts[0] if parts[-1].casefold() in ("s", "") else parts[-1]


def premise_of(question: str) -> Premise:
    """The names, numbers and qualifiers a question states.

    Example: "In che anno Carl Wilhelm Scheele coniò il nome ossigeno nel 1777?"
    -> names ("Carl", "Wilhelm", "Scheele"), numbers {"1777"}, qualifiers ()
    """
    words = [m.group(0) for m in _WORD.finditer(question)]
    names: list[str] = []
    for i, word in enumerate(words):
        base = _elided(word)
        folded = _fold(base)
        if i == 0 or not base[:1].isupper() or len(folded) < 3 or folded in _stopwords():
            continue
        if any(part in _NOT_NAMES for part in folded.split("-")):
            continue
        names.append(base.rstrip("'’-"))
    folded_words = _word_set(question)
    qualifiers = tuple(concept for concept, forms in QUALIFIERS.items() if folded_words & forms)
    return Premise(tuple(dict.fromkeys(names)), frozenset(numbers_in(question)), qualifiers)


def _word_set(text: str) -> set[str]:
    """The text's words folded, with the parts of elided or hyphenated ones: "dell'ultimo" -> also "ultimo"."""
    words = {_fold(m.group(0)) for m in _WORD.finditer(text)}
    return words | {part for w in words for part in re.split(r"['-]", w) if part}


def _near(a: str, b: str) -> bool:
    """One or two edits apart, for words of five letters or more: "poussin" / "pouzin", "lowell" / "lyell"."""
    if min(len(a), len(b)) < 5 or abs(len(a) - len(b)) > 2 or a[0] != b[0]:
        return False
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1] <= 2


def _holds(name: str, words: set[str]) -> bool:
    """The text has the name, or a form of it that differs only in its last letters ("Tesla's", "Broncos")."""
    if name in words:
        return True
    stem = name[: max(4, len(name) - 2)]
    return len(name) >= 5 and any(w.startswith(stem) and abs(len(w) - len(name)) <= 3 for w in words)


def check(premise: Premise, text: str) -> Check:
    """Which of the premise's names, numbers and qualifiers `text` does not state (or contradicts).

    Example: premise of "Who was the least important…", text "… la più importante …" -> contradicted ("least",)
    """
    words = _word_set(text)
    missing = tuple(n for n in premise.names if not _holds(_fold(n), words))
    near = tuple(n for n in missing if any(_near(_fold(n), w) for w in words))
    numbers = tuple(sorted(premise.numbers - numbers_in(text, source=True)))
    contradicted = []
    for concept in premise.qualifiers:
        opposite = QUALIFIERS[OPPOSITES[concept]] - _AMBIGUOUS
        if not words & QUALIFIERS[concept] and words & opposite:
            contradicted.append(concept)
    return Check(missing, near, numbers, tuple(contradicted))
