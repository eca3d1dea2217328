"""Numbers as facts, in Italian and English: "4,2 miliardi" and "4.2 billion" state the same one.

A number is read as the keyword analyzer reads it ("1.500" and "1,500" -> "1500", "4,2" -> "4.2"),
a percentage keeps its sign ("100 posti" is not "100% elettrici"), and a number followed by a scale
word takes its value ("550 milioni" / "550 million" -> "550000000"), so a careless translation
("4,2 million" for "4,2 miliardi") no longer matches. What a source states is read more generously
than what an answer claims: a source's spelled-out numbers count ("cinque anni" backs "5 years"),
and its scaled numbers also count bare ("550 milioni" backs "550"), while an answer's number words
are not demanded of the source (in "the two companies", "two" is no claim to check).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from .keyword import tokenize

_PERCENT = re.compile(r"(\d[\d.,]*)\s*(?:%|per\s*cento\b|percento\b|percent\b|per\s*cent\b)", re.IGNORECASE)

SCALES = {
    **dict.fromkeys(("mila", "thousand", "thousands"), 10**3),
    **dict.fromkeys(("milione", "milioni", "million", "millions", "mln"), 10**6),
    **dict.fromkeys(("miliardo", "miliardi", "billion", "billions", "mld"), 10**9),
    **dict.fromkeys(("trillion", "trillions"), 10**12),
}

_IT = "due tre quattro cinque sei sette otto nove dieci undici dodici tredici quattordici quindici sedici".split()
_IT += "diciassette diciotto diciannove venti".split()
_EN = "two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen".split()
_EN += "seventeen eighteen nineteen twenty".split()
_TENS_IT = "trenta quaranta cinquanta sessanta settanta ottanta novanta".split()
_TENS_EN = "thirty forty fifty sixty seventy eighty ninety".split()
NUMBER_WORDS = {
    **{w: n for n, w in enumerate(_IT, start=2)},
    **{w: n for n, w in enumerate(_EN, start=2)},
    **{w: 10 * n for n, w in enumerate(_TENS_IT, start=3)},
    **{w: 10 * n for n, w in enumerate(_TENS_EN, start=3)},
    **dict.fromkeys(("cento", "hundred"), 100),
    **dict.fromkeys(("mille", "thousand"), 1000),
}
ONE_BEFORE_SCALE = frozenset(("un", "uno", "una", "one", "a"))  # "un milione", "a billion"


def _canonical(value: Decimal) -> str:
    """Example: Decimal("4200000000.0") -> "4200000000"; Decimal("2.50") -> "2.5"."""
    text = format(value.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def numbers_in(text: str, source: bool = False) -> set[str]:
    """The numbers a text states, normalized; `source=True` reads it as a passage (see module doc).

    Example: numbers_in("550 milioni, 100% elettrici, 3,5 per cento") -> {"550000000", "100%", "3.5%"}
    numbers_in("cinque anni e 550 milioni", source=True) -> {"5", "550", "550000000"}
    """
    percents = {f"{n}%" for match in _PERCENT.finditer(text) for n in numbers_in(match.group(1))}
    tokens = tokenize(_PERCENT.sub(" ", text))
    found: set[str] = set()
    for i, token in enumerate(tokens):
        scale = SCALES.get(tokens[i + 1]) if i + 1 < len(tokens) else None
        if token[0].isdigit():
            value = _decimal(token)
            if value is None:  # "1.2.3" (a version, a date): kept as it is written
                found.add(token)
                continue
            bare = token
        elif source and (token in NUMBER_WORDS or (scale and token in ONE_BEFORE_SCALE)):
            value = Decimal(NUMBER_WORDS.get(token, 1))
            bare = _canonical(value)
        else:
            continue
        if scale:
            found.add(_canonical(value * scale))
        if source or not scale:
            found.add(bare)
    return found | percents


def _decimal(token: str) -> Decimal | None:
    try:
        return Decimal(token)
    except InvalidOperation:
        return None
