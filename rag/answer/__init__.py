"""The answer stage: from a question and its retrieved passages to an `Answer`.

Two readers: `ComposingPipeline` (the default, rag/answer/compose.py) has the model write a sentence from
whole passages and verifies it; `ExtractingPipeline` (rag/answer/chain.py) copies a short span from the
closest sentences and decides separately whether to give it. Either sits behind `NewsPipeline`
(rag/answer/news.py), which answers questions about the articles themselves and limits a search in time.
"""

from __future__ import annotations

from langchain_core.language_models.chat_models import BaseChatModel

from ..retrieval import HybridRetriever
from ..settings import Settings
from ..verify import Verifier
from .chain import ExtractingPipeline
from .compose import ComposingPipeline
from .news import NewsPipeline, Reader
from .trace import Response

Pipeline = NewsPipeline


def make_pipeline(
    settings: Settings, retriever: HybridRetriever, chat_model: BaseChatModel, verifier: Verifier
) -> NewsPipeline:
    """The reader the settings name (`RAG_READER`), behind the news-aware steps (rag/answer/news.py)."""
    reader: Reader
    if settings.reader == "compose":
        reader = ComposingPipeline(settings, retriever, chat_model, verifier)
    else:
        reader = ExtractingPipeline(settings, retriever, chat_model)
    return NewsPipeline(settings, retriever, reader)


__all__ = ["ComposingPipeline", "ExtractingPipeline", "NewsPipeline", "Pipeline", "Reader", "Response", "make_pipeline"]
