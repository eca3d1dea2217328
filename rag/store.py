"""Chroma as the vector store: persistent under index/ or a Chroma server (RAG_CHROMA_URL).

Two collections: one vector per chunk, and one per sentence of each chunk (embedded with its
article's title), so a passage can be found by its single best-matching sentence.
The chunk collection's metadata records which embedder built it, the index layout, and a
revision that changes on every write, so retrievers in other processes know when to reload.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import numpy as np
from langchain_core.embeddings import Embeddings

from .chunking import split_sentences
from .embeddings import embedder_name
from .errors import EmbedderMismatch, IndexNotBuilt, StoreUnavailable
from .settings import Settings
from .types import Chunk

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

_BATCH = 64
LAYOUT = "chunks+sentences/1"  # bump when what is stored changes; older indexes must be rebuilt


def sentence_records(chunk: Chunk) -> list[tuple[str, str, str]]:
    """(id, sentence, text to embed) for every sentence of a chunk; the title gives the sentence context."""
    return [
        (f"{chunk.id}:{n}", chunk.text[a:b], f"{chunk.title}. {chunk.text[a:b]}")
        for n, (a, b) in enumerate(split_sentences(chunk.text))
    ]


@dataclass(frozen=True)
class SentenceMatch:
    chunk_id: str
    sentence: str
    score: float  # cosine similarity to the query


class ChunkStore:
    """Chunks and their vectors in one Chroma collection (cosine distance)."""

    def __init__(self, settings: Settings, embeddings: Embeddings) -> None:
        self.settings = settings
        self.embeddings = embeddings
        self.embedder = embedder_name(embeddings)
        self._client: Any = None
        self._vectorstore: Any = None

    # -- connection -------------------------------------------------------------------------
    @property
    def location(self) -> str:
        return self.settings.chroma_url or str(self.settings.chroma_path)

    def client(self, create: bool = False) -> Any:
        if self._client is not None:
            return self._client
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        if self.settings.chroma_url:
            url = urlparse(self.settings.chroma_url)
            if not url.hostname:
                raise StoreUnavailable(
                    f"RAG_CHROMA_URL '{self.settings.chroma_url}' is not a URL like http://host:8000"
                )
            try:
                self._client = chromadb.HttpClient(
                    host=url.hostname,
                    port=url.port or (443 if url.scheme == "https" else 8000),
                    ssl=url.scheme == "https",
                    settings=chroma_settings,
                )
                self._client.heartbeat()
            except Exception as e:  # chromadb raises ValueError / httpx errors for a dead server
                self._client = None
                raise StoreUnavailable(
                    f"Cannot reach the Chroma server at {self.settings.chroma_url} ({e.__class__.__name__}). "
                    "Start it (chroma run --path DIR --port PORT) or unset RAG_CHROMA_URL to use the local index."
                ) from e
        else:
            path = self.settings.chroma_path
            if not create and not path.exists():
                raise IndexNotBuilt(str(path))
            try:
                path.mkdir(parents=True, exist_ok=True)
                self._client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
            except Exception as e:  # a damaged or incompatible store, or a folder we may not write
                raise StoreUnavailable(
                    f"Cannot open the Chroma store at {path} ({e.__class__.__name__}: {e}). "
                    "Check the folder's permissions, or delete it and run: rag ingest"
                ) from e
        return self._client

    def _collection(self) -> Any:
        client = self.client()
        try:
            return client.get_collection(self.settings.collection_name)
        except (ValueError, LookupError) as e:
            raise IndexNotBuilt(f"{self.location} (collection '{self.settings.collection_name}')") from e
        except Exception as e:
            if e.__class__.__name__ in ("NotFoundError", "InvalidCollectionException"):
                raise IndexNotBuilt(f"{self.location} (collection '{self.settings.collection_name}')") from e
            raise StoreUnavailable(
                f"Chroma failed at {self.location} ({e.__class__.__name__}: {e}). Rebuild with: rag ingest --rebuild"
            ) from e

    def _sentences(self) -> Any:
        try:
            return self.client().get_collection(self.settings.sentence_collection_name)
        except Exception as e:
            raise IndexNotBuilt(
                f"{self.location} (collection '{self.settings.sentence_collection_name}'); "
                "the index predates sentence search: rag ingest --rebuild"
            ) from e

    def vectorstore(self) -> Any:
        """The LangChain VectorStore over the collection."""
        if self._vectorstore is None:
            from langchain_chroma import Chroma

            self._collection()  # fail with IndexNotBuilt rather than creating an empty one
            self._vectorstore = Chroma(
                client=self.client(),
                collection_name=self.settings.collection_name,
                embedding_function=self.embeddings,
            )
        return self._vectorstore

    # -- lifecycle --------------------------------------------------------------------------
    def exists(self) -> bool:
        try:
            self._collection()
            return True
        except IndexNotBuilt:
            return False

    def layout(self) -> str | None:
        return (self._collection().metadata or {}).get("layout")

    def built_with(self) -> str | None:
        return (self._collection().metadata or {}).get("embedder")

    def check_embedder(self) -> None:
        """Raise unless the index exists and was built with this store's embedder."""
        built = self.built_with()
        if built != self.embedder:
            raise EmbedderMismatch(str(built), self.embedder)

    def open_for_writing(self, rebuild: bool = False) -> None:
        """Create the collection if needed; with `rebuild`, drop and recreate it (vectors only)."""
        client = self.client(create=True)
        if self.exists() and (rebuild or self.layout() != LAYOUT):
            client.delete_collection(self.settings.collection_name)
            self._vectorstore = None
        if not self.exists():
            names = {getattr(c, "name", c) for c in client.list_collections()}
            if self.settings.sentence_collection_name in names:
                client.delete_collection(self.settings.sentence_collection_name)
            for name, metadata in (
                (self.settings.sentence_collection_name, {"embedder": self.embedder}),
                (
                    self.settings.collection_name,
                    {"embedder": self.embedder, "layout": LAYOUT, "revision": uuid.uuid4().hex},
                ),
            ):
                client.create_collection(
                    name=name, metadata=metadata, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
                )
        self.check_embedder()

    def revision(self) -> str:
        return str((self._collection().metadata or {}).get("revision", ""))

    def _bump_revision(self) -> None:
        collection = self._collection()
        metadata = dict(collection.metadata or {})
        metadata["revision"] = uuid.uuid4().hex
        collection.modify(metadata=metadata)

    # -- data -------------------------------------------------------------------------------
    def stored_ids(self) -> set[str]:
        return set(self._collection().get(include=[])["ids"])

    def all_chunks(self) -> list[Chunk]:
        data = self._collection().get(include=["documents", "metadatas"])
        chunks = [Chunk.from_stored(doc, meta) for doc, meta in zip(data["documents"], data["metadatas"], strict=True)]
        return sorted(chunks, key=lambda c: (c.article_id, c.index))

    def write(
        self, add: list[Chunk], delete: Iterable[str], progress: Callable[[int, int], None] | None = None
    ) -> None:
        """Delete stale chunk ids and add new chunks, embedding them in batches."""
        delete = list(delete)
        chunks, sentences = self._collection(), self._sentences()
        for start in range(0, len(delete), _BATCH):
            batch_ids = delete[start : start + _BATCH]
            chunks.delete(ids=batch_ids)
            sentences.delete(where={"chunk_id": {"$in": batch_ids}})
        vectorstore = self.vectorstore()
        if progress and add:
            progress(0, len(add))
        for start in range(0, len(add), _BATCH):
            batch = add[start : start + _BATCH]
            vectorstore.add_texts(
                texts=[c.text for c in batch], metadatas=[c.metadata() for c in batch], ids=[c.id for c in batch]
            )
            records = [(c, r) for c in batch for r in sentence_records(c)]
            if records:
                sentences.add(
                    ids=[r[0] for _, r in records],
                    documents=[r[1] for _, r in records],
                    embeddings=self.embeddings.embed_documents([r[2] for _, r in records]),  # type: ignore[arg-type]
                    metadatas=[{"chunk_id": c.id, "article_id": c.article_id} for c, _ in records],
                )
            if progress:
                progress(min(start + _BATCH, len(add)), len(add))
        if add or delete:
            self._bump_revision()

    def embed_query(self, query: str) -> list[float]:
        return self.embeddings.embed_query(query)

    def dense_search(self, query: str | list[float], n: int) -> list[tuple[Chunk, float]]:
        """The n nearest chunks with cosine similarity (1 - cosine distance); `query` is text or its vector."""
        self.check_embedder()
        vector = self.embed_query(query) if isinstance(query, str) else query
        results = self.vectorstore().similarity_search_by_vector_with_relevance_scores(vector, k=n)
        return [(Chunk.from_stored(doc.page_content, doc.metadata), 1.0 - float(dist)) for doc, dist in results]

    def sentence_scores(self, vector: list[float], chunk_ids: list[str]) -> dict[str, list[float]]:
        """Cosine similarity of a query vector to every stored sentence of the given chunks, in text order."""
        if not chunk_ids:
            return {}
        data = self._sentences().get(where={"chunk_id": {"$in": list(chunk_ids)}}, include=["embeddings"])
        query = np.asarray(vector, dtype=np.float32)
        query /= np.linalg.norm(query) or 1.0
        found: dict[str, dict[int, float]] = {}
        for sid, stored in zip(data["ids"], data["embeddings"], strict=True):
            chunk_id, _, n = sid.rpartition(":")
            v = np.asarray(stored, dtype=np.float32)
            found.setdefault(chunk_id, {})[int(n)] = float(v @ query / (np.linalg.norm(v) or 1.0))
        return {cid: [scores[n] for n in sorted(scores)] for cid, scores in found.items()}

    def sentence_search(self, vector: list[float], n: int) -> list[SentenceMatch]:
        """The n sentences nearest to a query vector, best first."""
        collection = self._sentences()
        count = collection.count()
        if not count:
            return []
        result = collection.query(
            query_embeddings=[vector], n_results=min(n, count), include=["documents", "metadatas", "distances"]
        )
        return [
            SentenceMatch(chunk_id=str(meta["chunk_id"]), sentence=doc, score=1.0 - float(dist))
            for doc, meta, dist in zip(
                result["documents"][0], result["metadatas"][0], result["distances"][0], strict=True
            )
        ]
