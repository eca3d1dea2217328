"""Chroma as the vector store: persistent under index/ or a Chroma server (RAG_CHROMA_URL).

The collection's metadata records which embedder built it and a revision that changes on
every write, so retrievers in other processes know when to rebuild their keyword index.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlparse

from langchain_core.embeddings import Embeddings

from .embeddings import embedder_name
from .errors import EmbedderMismatch, IndexNotBuilt, StoreUnavailable
from .settings import Settings
from .types import Chunk

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

_BATCH = 64


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
        if rebuild and self.exists():
            client.delete_collection(self.settings.collection_name)
            self._vectorstore = None
        if not self.exists():
            client.create_collection(
                name=self.settings.collection_name,
                metadata={"embedder": self.embedder, "revision": uuid.uuid4().hex},
                configuration={"hnsw": {"space": "cosine"}},
                embedding_function=None,
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
        if delete:
            self._collection().delete(ids=delete)
        vectorstore = self.vectorstore()
        if progress and add:
            progress(0, len(add))
        for start in range(0, len(add), _BATCH):
            batch = add[start : start + _BATCH]
            vectorstore.add_texts(
                texts=[c.text for c in batch], metadatas=[c.metadata() for c in batch], ids=[c.id for c in batch]
            )
            if progress:
                progress(min(start + _BATCH, len(add)), len(add))
        if add or delete:
            self._bump_revision()

    def dense_search(self, query: str, n: int) -> list[tuple[Chunk, float]]:
        """The n nearest chunks with cosine similarity (1 - cosine distance)."""
        self.check_embedder()
        results = self.vectorstore().similarity_search_with_score(query, k=n)
        return [(Chunk.from_stored(doc.page_content, doc.metadata), 1.0 - float(dist)) for doc, dist in results]
