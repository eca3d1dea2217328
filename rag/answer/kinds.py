"""What kind of answer a question asks for, and the spans of the evidence that could be one.

A small model asked "When was the agreement signed?" may copy the sentence's opening words; asked
"Who heads the Japanese manufacturer…?", the manufacturer's name. When the question's own words say
what it wants (a day or year, an amount, a person), the reader does not leave the kind to the model:
it collects the evidence's spans of that kind (dates, numbers with their unit, capitalised names),
drops those the question already says, and the model chooses among them by their likelihood as its
reply (rag/models/copying.py `choice_rule`). Any other question, or one whose evidence holds no span
of its kind, is read as before: a span copied freely.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..dates import MONTH_WORDS
from ..keyword import STOPWORDS as _BY_LANGUAGE
from ..models.copying import fold
from ..numbers import NUMBER_WORDS, SCALES
from .evidence import Evidence

DATE, NUMBER, PERSON, ANY = "date", "number", "person", "any"
MAX_CHOICES = 16
STOPWORDS = frozenset().union(*_BY_LANGUAGE.values())

_ASKS = (
    (DATE, r"quando|in che (?:anno|giorno|data|mese)|in quale (?:anno|giorno|data|mese)|che giorno|entro quando"
           r"|da quando|when|(?:in |on )?(?:what|which) (?:year|day|date|month)|since when|by when"),
    (NUMBER, r"quant[aeio]|how (?:many|much|long|far|big|large|old)|(?:what|which|quale) (?:percentage|percentuale)"
             r"|(?:what|which) (?:share|number)"),
    (PERSON, r"chi|da chi|a chi|con chi|who|whom|whose|by whom|to whom"),
    (ANY, r"che cosa|cosa|che|quale|quali|come|dove|perch[eé]|what|which|how|where|why"),
)  # fmt: skip
_ASK = re.compile("|".join(rf"(?P<{kind}{i}>\b(?:{words})\b)" for i, (kind, words) in enumerate(_ASKS)), re.I)

_M, _YEAR = MONTH_WORDS, r"(?:1\d{3}|20\d{2})"
_DATES = re.compile(
    rf"\b(?:\d{{1,2}}(?:º|°)?\s+(?:{_M})(?:\s+{_YEAR})?|(?:{_M})\s+\d{{1,2}}(?:,\s*{_YEAR})?"
    rf"|(?:{_M})\s+(?:del\s+|of\s+)?{_YEAR}|{_YEAR}|ieri|oggi|domani|yesterday|today|tomorrow)\b",
    re.IGNORECASE,
)
_SCALE = "|".join(sorted(SCALES, key=len, reverse=True))
_SPELLED = "|".join(sorted(NUMBER_WORDS, key=len, reverse=True))
_NUMBERS = re.compile(
    rf"(?:[$€£]\s?)?\b(?:\d[\d.,]*\d|\d|{_SPELLED})\b"
    rf"(?:\s*%|\s+per\s*cento\b|\s+percent\b)?(?:\s+(?:{_SCALE})\b)?(?:\s+(?:di|of)\b)?(?:\s+[^\W\d_][\w'’-]*)?",
    re.IGNORECASE,
)
_NAME_WORD = r"[A-ZÀ-ÖØ-Ý][\w'’.-]*"
_NAMES = re.compile(rf"{_NAME_WORD}(?:\s+(?:(?:de|van|von|der|du|bin)\s+)?{_NAME_WORD})*")


def expected_kind(question: str) -> str:
    """The kind of answer the question's first question word asks for (the longest one where several start).

    Example: "Quando è stata firmata l'intesa?" -> "date"; "According to him, who heads it?" -> "person";
    "In which country…?" -> "any"; "Quanti posti…?" -> "number"
    """
    found = [(m.start(), -(m.end() - m.start()), name) for m in _ASK.finditer(question) for name, v in
             m.groupdict().items() if v]  # fmt: skip
    if not found:
        return ANY
    return min(found)[2].rstrip("0123456789")


_ELIDED = re.compile(r"^[^\W\d_]{1,3}['’]")


def _trimmed(span: str, kind: str) -> str:
    """A span without the stopwords a name or number picked up at its ends; a "name" that is only a
    sentence's capitalised opening word comes back empty.

    Example: ("Il Ford", PERSON) -> "Ford"; ("L’intesa", PERSON) -> ""; ("322 persone", NUMBER) -> "322 persone"
    """
    words = span.strip(" ,;:.").split()
    if kind == PERSON:
        while words and words[0].casefold() in STOPWORDS:
            words = words[1:]
        if words:
            words[0] = _ELIDED.sub("", words[0])
        if not words or not words[0][:1].isupper():
            return ""
    while kind == NUMBER and len(words) > 1 and words[-1].casefold() in STOPWORDS:
        words = words[:-1]
    return " ".join(words)


def _spans(kind: str, sentence: str) -> list[str]:
    """The sentence's spans of `kind`; a number that is the day of a written date is not an amount, and a
    run of three or more capitalised words also offers its last two ("Academy Award Lady Gaga": "Lady Gaga")."""
    pattern = {DATE: _DATES, NUMBER: _NUMBERS, PERSON: _NAMES}[kind]
    days = [m.span() for m in _DATES.finditer(sentence) if not m.group(0).isdigit()] if kind == NUMBER else []
    found = []
    for m in pattern.finditer(sentence):
        if any(a < m.end() and m.start() < b for a, b in days):
            continue
        span = _trimmed(m.group(0), kind)
        found.append(span)
        words = span.split()
        if kind == PERSON and len(words) >= 3 and words[-2][:1].isupper():
            found.append(" ".join(words[-2:]))
    return found


def spans_of(kind: str, question: str, sentence: str) -> list[str]:
    """The sentence's spans of `kind` that the question does not already say (every word of the span in it).

    Example: (DATE, "Cosa accadde dopo il 2024?", "Nel 2024 fu annunciata; nel 2028 arriverà.") -> ["2028"]
    """
    if kind == ANY:
        return []
    asked = set(re.findall(r"\w+", fold(question)))
    found = []
    for span in _spans(kind, sentence):
        words = set(re.findall(r"\w+", fold(span)))
        if words and not words <= asked and not (kind == PERSON and words <= STOPWORDS):
            found.append(span)
    return found


def choices_for(kind: str, question: str, evidence: Sequence[Evidence]) -> list[str]:
    """The evidence's spans of `kind` the question does not say, closest sentence first, each once; at most
    MAX_CHOICES. Empty for ANY.

    Example (DATE, "Quando è stata firmata l'intesa?", "L'intesa, siglata il 9 dicembre 2025, … nel 2028") ->
    ["9 dicembre 2025", "2028"]
    """
    chosen: list[str] = []
    seen: set[str] = set()
    for item in evidence:
        for span in spans_of(kind, question, item.sentence):
            if fold(span) not in seen:
                seen.add(fold(span))
                chosen.append(span)
    return chosen[:MAX_CHOICES]
