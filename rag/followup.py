"""Does a chat message lean on the conversation? Only such follow-ups are rewritten by the LLM
(one extra generation, 1.5-3 s on 2 cores); a question that stands alone goes straight to retrieval.

A message leans on the conversation when it is short, opens like a continuation ("E…", "And…",
"What about…"), or refers back with a pronoun or demonstrative ("lì", "their", "quello").
When in doubt it is rewritten: a needless rewrite costs time, a missed one a wrong answer.
"""

from __future__ import annotations

import re

from .textutil import strip_accents

MIN_STANDALONE_WORDS = 5
_OPENERS = frozenset("""e ed ma anche invece allora quindi poi inoltre oppure o and but also so then or""".split())
_OPENING_PAIRS = frozenset({("what", "about"), ("how", "about"), ("and", "what"), ("e", "per")})
# pronouns and demonstratives only: Italian articles that double as clitics (la, le, lo, gli) would match
# nearly every question
_BACK_REFERENCES = frozenset(
    """lui lei loro esso essa essi esse questo questa questi queste quello quella quelli quelle cio
    suo sua suoi sue stesso stessa stessi costui colui
    he she they them him her his hers their theirs it its this that these those same former latter""".split()
)
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def leans_on_history(message: str) -> bool:
    """True when the message needs the conversation to be understood.

    Example: "E quando arriveranno?" -> True; "What did they invest?" -> True;
    "Quanto è stato investito nello stabilimento di Douai?" -> False
    """
    words = [strip_accents(w.casefold()) for w in _WORD.findall(message)]
    if len(words) < MIN_STANDALONE_WORDS:
        return True
    if words[0] in _OPENERS or tuple(words[:2]) in _OPENING_PAIRS:
        return True
    return any(w in _BACK_REFERENCES for w in words)
