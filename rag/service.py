"""Wiring: build the store, retriever and pipeline from settings (parts can be passed in for tests)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from langchain_core.embeddings import Embeddings
from langchain_core.language_models.chat_models import BaseChatModel

from .answer import Pipeline, make_pipeline
from .models.embeddings import make_embeddings
from .models.llm import make_chat_model
from .retrieval import HybridRetriever
from .settings import Settings
from .store import ChunkStore
from .verify import Verifier

WARM_UP_QUESTION = "Renault"  # any word: the search loads every part a question uses


@dataclass
class Service:
    settings: Settings
    store: ChunkStore
    retriever: HybridRetriever
    _chat_model: BaseChatModel | None = None
    _pipeline: Pipeline | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def pipeline(self) -> Pipeline:
        """The answering pipeline; the chat model is built on first use (once, even under concurrency)."""
        with self._lock:
            if self._pipeline is None:
                chat_model = self._chat_model or make_chat_model(self.settings)
                verifier = Verifier(
                    self.store.embeddings,
                    self.settings.profile.min_support,
                    self.settings.profile.citation_lexical_weight,
                    stored=self.store.sentence_vectors,
                )
                self._pipeline = make_pipeline(self.settings, self.retriever, chat_model, verifier)
            return self._pipeline

    def warm_up(self) -> None:
        """Load now what the first question would wait for, so it is not the slow one: the chunk table and
        keyword side, the embedder and both vector indexes (one search; at 100,000 chunks the first search
        took over a minute), then the pipeline and a local chat model."""
        if self.store.exists():
            self.retriever.search(WARM_UP_QUESTION)
        load = getattr(self.pipeline.chat_model, "load", None)
        if callable(load):
            load()


def build_service(
    settings: Settings, embeddings: Embeddings | None = None, chat_model: BaseChatModel | None = None
) -> Service:
    store = ChunkStore(settings, embeddings or make_embeddings(settings))
    return Service(settings=settings, store=store, retriever=HybridRetriever(settings, store), _chat_model=chat_model)
