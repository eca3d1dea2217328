"""Dates as each language writes them (pure functions of the text stage)."""

from __future__ import annotations

import re
from datetime import date

MONTHS = {
    "it": ("gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto", "settembre",
           "ottobre", "novembre", "dicembre"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
}  # fmt: skip


def long_date(iso: str, language: str) -> str:
    """An ISO date written out in `language`; anything that is not one comes back as it is.

    Example: ("2025-12-09", "it") -> "9 dicembre 2025"; ("2025-12-09", "en") -> "9 December 2025"
    """
    try:
        day = date.fromisoformat(iso)
    except (TypeError, ValueError):
        return iso
    months = MONTHS.get(language, MONTHS["en"])
    return f"{day.day} {months[day.month - 1]} {day.year}"


# every month name of both languages, as a regex alternation (longest first)
MONTH_WORDS = "|".join(sorted({m.lower() for names in MONTHS.values() for m in names}, key=len, reverse=True))
_SCALE = r"(?:milioni|milione|miliardi|miliardo|mila|million|millions|billion|billions|thousand)"
# a day, month and year ("1 giugno 1953", "June 1, 1953", "inizio del 2028" stays a year), or a number with
# its scale word ("550 milioni"), as an answer should give them whole
_EXPRESSIONS = re.compile(
    rf"\b(?:\d{{1,2}}(?:º|°)?\s+(?:{MONTH_WORDS})(?:\s+\d{{4}})?|(?:{MONTH_WORDS})\s+\d{{1,2}}(?:,\s*\d{{4}})?|(?:{MONTH_WORDS})\s+\d{{4}}"
    rf"|\d+(?:[.,]\d+)*\s+{_SCALE}(?:\s+di)?(?:\s+(?:euro|dollari|dollars|euros))?)\b",
    re.IGNORECASE,
)


def whole_expression(span: str, sentence: str) -> str:
    """The date or scaled number of `sentence` that `span` is part of, else `span` itself.

    Example: ("1953", "andò in onda il 1 giugno 1953.") -> "1 giugno 1953"; ("550", "550 milioni di euro") ->
    "550 milioni di euro"; ("Douai", ...) -> "Douai"
    """
    at = sentence.find(span)
    if not span or at < 0:
        return span
    for match in _EXPRESSIONS.finditer(sentence):
        if match.start() <= at and at + len(span) <= match.end():
            return match.group(0)
    return span


def states_date(text: str, iso: str) -> bool:
    """Does `text` write the day `iso` (day, month and year, in Italian or English words, or as numbers)?

    Example: ("It was announced on September 24, 2025 [1].", "2025-09-24") -> True; ("nel 2025", ...) -> False
    """
    try:
        day = date.fromisoformat(iso)
    except (TypeError, ValueError):
        return False
    names = "|".join(sorted({names[day.month - 1] for names in MONTHS.values()}, key=len, reverse=True))
    d, m, y = day.day, day.month, day.year
    written = (
        rf"\b0?{d}(?:º|°)?\s+(?:{names})\s+{y}\b",  # 24 settembre 2025
        rf"\b(?:{names})\s+0?{d}(?:st|nd|rd|th)?,?\s+{y}\b",  # September 24, 2025
        rf"\b{y}-0?{m}-0?{d}\b",  # 2025-09-24
        rf"\b0?{d}[/.]0?{m}[/.]{y}\b",  # 24/09/2025
    )
    return any(re.search(pattern, text, re.IGNORECASE) for pattern in written)
