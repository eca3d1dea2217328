"""What the model may say, and how it is read: the one place that knows the model's output format.

The model writes an answer from numbered passages, citing them with `[n]` markers, or the fixed
not-found marker when they do not say. The templates in rag/prompts/ ask for this format; the chain
(rag/answer/compose.py), the verifier (rag/verify.py) and the eval read it only through this module. Which
marker a sentence finally carries is decided by the verifier, not by the model.
"""

from __future__ import annotations

import re

NOT_FOUND = "NOT_FOUND"
MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_NOT_FOUND = re.compile(rf"\b{NOT_FOUND}\b|^\W*not[ _]found\W*(\[\d+\]\W*)*$", re.IGNORECASE)
_MARKER_ONLY = re.compile(r"^\W*not[ _]found\W*(\[\d+\]\W*)*$", re.IGNORECASE)


def marker_numbers(text: str) -> list[int]:
    """Every number in every [n] / [n, m] marker, in order: "A [1]. B [2, 3]." -> [1, 2, 3]."""
    return [int(n) for match in MARKER.finditer(text) for n in re.split(r"\s*[,;]\s*", match.group(1))]


def says_not_found(text: str) -> bool:
    """The model's fixed not-found marker (or nothing at all) means it found no answer.

    Example: "NOT_FOUND", "Not_FOUND [1]" -> True; "The cause was not found by investigators." -> False
    """
    stripped = text.strip()
    return not stripped or bool(_NOT_FOUND.search(stripped))


def may_become_not_found(text: str) -> bool:
    """Could this draft still turn out to be just the not-found marker? Such a draft is not shown.

    Example: "", "NOT_F", "NOT_FOUND [1]" -> True; "Il 9 dicembre" -> False
    """
    stripped = text.strip()
    return NOT_FOUND.startswith(stripped.upper()) or bool(_MARKER_ONLY.match(stripped))
