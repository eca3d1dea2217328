"""Italian/English language detection that also works on short questions and bare names.

Function words decide first (they are reliable even in three-word questions such as
"E Farley?" or "Who is Provost?"); the statistical detector (lingua, restricted to the two
languages, models shipped in its wheel) settles the rest.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from typing import Any

from .textutil import strip_accents

_IT_WORDS = frozenset(
    """e ed il lo la i gli le un una uno di del della dei degli delle dello da dal dalla dai in nel nella
    nei nelle con su sul sulla per tra fra che chi cosa come quando dove perché perche quanto quanti
    quante quale quali non è sono ha hanno era erano sarà saranno stato stata anche ma o se cui questo
    questa questi queste quello quella qual dell all nell sull c ci si ne mi ti vi al alla ai alle l d
    dov com""".split()
)
_EN_WORDS = frozenset(
    """the an of to on at for with from by and or but is are was were be been will would can could
    does do did has have had what who whom whose which when where why how much many this that these
    those it its their there about into than then also not""".split()
)
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_lock = threading.Lock()


def _function_words(text: str) -> tuple[int, int]:
    """How many Italian and English function words the text has ("a" and "in" count for neither)."""
    words = [w.casefold() for w in _WORD.findall(text.replace("’", "'"))]
    it = sum(1 for w in words if w in _IT_WORDS or strip_accents(w) in _IT_WORDS)
    en = sum(1 for w in words if w in _EN_WORDS)
    # accented final vowels ("è", "perché", "sarà") are Italian, never English
    it += sum(1 for w in words if w[-1:] in "àèéìòù")
    return it, en


@lru_cache(maxsize=1)
def _detector() -> Any:
    from lingua import Language, LanguageDetectorBuilder

    return LanguageDetectorBuilder.from_languages(Language.ITALIAN, Language.ENGLISH).build()


def detect_language(text: str, default: str = "it") -> str:
    """Return "it" or "en" for any text; `default` when there is nothing to go on.

    Example: "E Farley?" -> "it", "Who is Provost?" -> "en", "Douai" -> default.
    """
    words = _WORD.findall(text)
    if not words:
        return default
    it, en = _function_words(text)
    vote = None if it == en else ("it" if it > en else "en")
    # short texts, or a clear majority: product names ("Scenic E-Tech Electric") must not outvote grammar
    if vote is not None and (len(words) <= 12 or (abs(it - en) >= 3 and min(it, en) * 3 <= max(it, en))):
        return vote
    with _lock:
        detected = _detector().detect_language_of(text)
    if detected is None:
        return vote or default
    return "it" if detected.name == "ITALIAN" else "en"
