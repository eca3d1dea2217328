"""A follow-up ("E quando arriveranno?") rewritten to stand alone, using the conversation so far."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from langchain_core.language_models.chat_models import BaseChatModel

from ..followup import leans_on_history
from ..models.reader import ModelReader
from ..prompt import build_rewrite_prompt
from ..protocol import says_not_found

if TYPE_CHECKING:
    from .trace import Trace

REWRITE_MAX_TOKENS = 48


def standalone_question(
    chat_model: BaseChatModel,
    reader: ModelReader,
    question: str,
    language: str,
    history: Sequence[tuple[str, str]],
    trace: Trace | None = None,
) -> str:
    """The latest message rewritten to stand alone.

    Unchanged without history, or when the message does not lean on it (rag/followup.py).
    """
    if not history or not leans_on_history(question):
        return question
    messages = build_rewrite_prompt(question, language, list(history))
    reply = chat_model.invoke(messages, **reader.limit(REWRITE_MAX_TOKENS))
    if trace is not None:
        trace.record(reply)
    text = str(reply.content)
    rewritten = " ".join(text.strip().strip('"«»').split())
    rewritten = re.sub(r"^(domanda|question)\s*:\s*", "", rewritten, flags=re.IGNORECASE)
    if not rewritten or len(rewritten) > 4 * len(question) + 200 or says_not_found(rewritten):
        return question
    return rewritten
