"""Dev/test split of eval questions, computed from the question id alone."""

from __future__ import annotations

import hashlib

_TRANSLATION_SUFFIX = "-en"


def base_id(question_id: str) -> str:
    """The id without a trailing "-en", so a translation maps to its original."""
    if question_id.endswith(_TRANSLATION_SUFFIX):
        return question_id[: -len(_TRANSLATION_SUFFIX)]
    return question_id


def split_of(question_id: str) -> str:
    """A fixed development/held-out split: about a third of the items tune, the rest report.

    sha256 of the base id, mod 3 == 0 is "dev"; a translation ("<id>-en") shares its original's split.
    """
    digest = hashlib.sha256(base_id(question_id).encode("utf-8")).hexdigest()
    return "dev" if int(digest, 16) % 3 == 0 else "test"
