"""`[n]` citation markers in the model's text. Which marker an answer sentence finally carries is
decided by the verifier (`verify.py`), not by the model; this module only reads markers.
"""

from __future__ import annotations

import re

MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")


def marker_numbers(text: str) -> list[int]:
    """Every number in every [n] / [n, m] marker, in order: "A [1]. B [2, 3]." -> [1, 2, 3]."""
    return [int(n) for match in MARKER.finditer(text) for n in re.split(r"\s*[,;]\s*", match.group(1))]
