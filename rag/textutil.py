"""Small text helpers shared by several stages."""

from __future__ import annotations

import unicodedata


def strip_accents(text: str) -> str:
    """Remove combining accents: "Città perché" -> "Citta perche"."""
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
