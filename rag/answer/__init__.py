"""The answer stage: from a question and its retrieved passages to an `Answer`.

Two readers: `ExtractingPipeline` (the default, rag/answer/chain.py) copies a short span from the closest
sentences and decides separately whether to give it; `ComposingPipeline` (rag/answer/compose.py) has the
model write a sentence from whole passages and verifies it.
"""

from __future__ import annotations

from langchain_core.language_models.chat_models import BaseChatModel

from ..retrieval import HybridRetriever
from ..settings import Settings
from ..verify import Verifier
from .chain import ExtractingPipeline
from .compose import ComposingPipeline
from .trace import Response

Pipeline = ExtractingPipeline | ComposingPipeline


def make_pipeline(
    settings: Settings, retriever: HybridRetriever, chat_model: BaseChatModel, verifier: Verifier
) -> Pipeline:
    """The reader the settings name (`RAG_READER`)."""
    if settings.reader == "compose":
        return ComposingPipeline(settings, retriever, chat_model, verifier)
    return ExtractingPipeline(settings, retriever, chat_model)


__all__ = ["ComposingPipeline", "ExtractingPipeline", "Pipeline", "Response", "make_pipeline"]
