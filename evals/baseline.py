"""The baseline a user of the LangChain RAG tutorial would build, for side-by-side scoring.

RecursiveCharacterTextSplitter (1000 characters, 200 overlap), dense-only Chroma with the same
embedder, the top 4 chunks stuffed into one prompt, the same LLM and settings, the same
not-found marker for abstention, no verification. Its "citations" are the stuffed chunks,
which is what the tutorial shows as sources.
"""

from __future__ import annotations

import contextlib
import hashlib
import time

from langchain_chroma import Chroma
from langchain_core.embeddings import Embeddings
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import HumanMessage
from langchain_text_splitters import RecursiveCharacterTextSplitter

from rag.corpus import load_corpus
from rag.language import detect_language
from rag.models.embeddings import embedder_name
from rag.prompt import abstain_message
from rag.protocol import says_not_found
from rag.settings import Settings
from rag.store import open_client
from rag.types import Answer, Chunk, Citation, Source, Timings

TUTORIAL_PROMPT = (
    "You are an assistant for question-answering tasks. Use the following pieces of retrieved context to "
    "answer the question. If you don't know the answer, just say NOT_FOUND. Use three sentences maximum "
    "and keep the answer concise.\n\nQuestion: {question}\n\nContext: {context}\n\nAnswer:"
)
STUFFED = 4


def baseline_chunks(settings: Settings) -> list[Chunk]:
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200, add_start_index=True)
    chunks: list[Chunk] = []
    for article in load_corpus(settings.corpus).articles:
        for i, doc in enumerate(splitter.create_documents([article.text])):
            start = int(doc.metadata.get("start_index", 0))
            text = doc.page_content
            chunk_id = hashlib.sha256(f"baseline\x1f{article.id}\x1f{start}\x1f{text}".encode()).hexdigest()[:24]
            chunks.append(
                Chunk(
                    chunk_id,
                    article.id,
                    article.title,
                    article.date,
                    article.language,
                    article.publication,
                    text,
                    start,
                    start + len(text),
                    i,
                    article.author,
                )  # fmt: skip
            )
    return chunks


class BaselinePipeline:
    def __init__(self, settings: Settings, embeddings: Embeddings, chat_model: BaseChatModel) -> None:
        self.settings = settings.model_copy(
            update={"collection": f"{settings.collection_name}-baseline", "index": settings.index_dir}
        )
        self.embeddings = embeddings
        self.chat_model = chat_model
        self.chunks: dict[str, Chunk] = {}
        self._vectorstore: Chroma | None = None

    def _open(self) -> Chroma:
        """The tutorial's store: a LangChain Chroma collection of chunk texts, each embedded whole."""
        if self._vectorstore is None:
            client = open_client(self.settings, create=True)
            name, embedder = self.settings.collection_name, embedder_name(self.embeddings)
            with contextlib.suppress(Exception):  # built with another embedder: start again
                if (client.get_collection(name).metadata or {}).get("embedder") != embedder:
                    client.delete_collection(name)
            self._vectorstore = Chroma(
                client=client,
                collection_name=name,
                embedding_function=self.embeddings,
                collection_metadata={"embedder": embedder},
                collection_configuration={"hnsw": {"space": "cosine"}},
            )
        return self._vectorstore

    def index(self) -> None:
        chunks = baseline_chunks(self.settings)
        self.chunks = {c.id: c for c in chunks}
        vectorstore = self._open()
        existing = set(vectorstore.get(include=[])["ids"])
        if stale := sorted(existing - set(self.chunks)):
            vectorstore.delete(ids=stale)
        new = [c for c in chunks if c.id not in existing]
        for start in range(0, len(new), 64):
            batch = new[start : start + 64]
            vectorstore.add_texts([c.text for c in batch], [c.metadata() for c in batch], ids=[c.id for c in batch])

    def search(self, question: str, k: int) -> list[tuple[Chunk, float]]:
        results = self._open().similarity_search_with_relevance_scores(question, k=k)
        return [(Chunk.from_stored(doc.page_content, doc.metadata), float(score)) for doc, score in results]

    def ask(self, question: str, k: int = 5) -> Answer:
        started = time.perf_counter()
        language = detect_language(question)
        hits = self.search(question, max(k, STUFFED))
        retrieve_ms = int((time.perf_counter() - started) * 1000)
        stuffed = [chunk for chunk, _ in hits[:STUFFED]]
        prompt = TUTORIAL_PROMPT.format(question=question, context="\n\n".join(c.text for c in stuffed))
        parts: list[str] = []
        ttft_ms = 0
        for piece in self.chat_model.stream([HumanMessage(content=prompt)]):
            if piece.content and not parts:
                ttft_ms = int((time.perf_counter() - started) * 1000)
            parts.append(str(piece.content))
        raw = "".join(parts).strip()
        total_ms = int((time.perf_counter() - started) * 1000)
        abstained = says_not_found(raw)
        sources = [Source(i + 1, c.id, c.article_id, c.title, round(s, 4), c.text) for i, (c, s) in enumerate(hits)]
        citations = [] if abstained else [
            Citation(i + 1, c.article_id, c.title, c.date, c.publication, c.id, c.text) for i, c in enumerate(stuffed)
        ]  # fmt: skip
        return Answer(
            question=question,
            language=language,
            answer=abstain_message(language) if abstained else raw,
            abstained=abstained,
            citations=citations,
            sources=sources,
            timings=Timings(retrieve_ms, ttft_ms, total_ms - ttft_ms, total_ms),
            raw_answer=raw,
            context_ids=[c.id for c in stuffed],
        )
