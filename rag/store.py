"""Chroma as the vector store: persistent under index/ or a Chroma server (RAG_CHROMA_URL).

Two collections: one vector per sentence of each chunk (the sentence alone), so a passage can be found
by its single best-matching sentence and the verifier compares an answer with the very vectors stored
here; and one vector per chunk, the normalized mean of its sentences' vectors. Each distinct sentence
is embedded once (the overlap between neighbouring chunks included), so ingest embeds about 0.8 of the
corpus's characters instead of 2x: chunk vectors embedded from the chunk text cost as much again and
retrieved no better (`rag eval --retrieval-only`, e5: seed set MRR 0.743 embedded / 0.729 mean,
with distractors 0.634 / 0.642, bench set 0.833 / 0.843; recall@5 equal or better).
With RAG_SENTENCE_DIMS the sentence collection's
index is narrower, each whole vector packed in its metadata for rescoring (rag/models/matryoshka.py).
The chunk collection's metadata records which embedder built it (and the sentence width), the index layout, and a
revision that changes on every write, so retrievers in other processes know when to reload.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import numpy as np
from langchain_core.embeddings import Embeddings

from .chunking import split_sentences
from .errors import EmbedderMismatch, IndexNotBuilt, RagError, StoreUnavailable
from .models.embeddings import embedder_name
from .models.matryoshka import packed, rescored, shortened, unpacked
from .periods import day_number
from .settings import Settings
from .types import Chunk, Scope, WriteProgress

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
log = logging.getLogger(__name__)

_BATCH = 64
_PAGE = 5_000  # records per read of a whole collection
# with RAG_SENTENCE_DIMS: the narrow index's candidates per sentence a search asks for, ranked again by whole vectors
SENTENCE_FUNNEL = 2
VECTOR_KEY = "vector"  # the sentence metadata field holding the whole vector (packed), with RAG_SENTENCE_DIMS
LAYOUT = "chunks+sentences/4"  # bump when what is stored changes; older indexes must be rebuilt
# layouts an index can be brought to LAYOUT from in place, without embedding again: /3 lacked `day`
_UPGRADABLE = ("chunks+sentences/3",)


def sentence_ids(chunk_id: str, count: int) -> list[str]:
    """The ids of a chunk's sentences in the sentence collection: its id and each sentence's position.

    Example: ("c1", 2) -> ["c1:0", "c1:1"].
    """
    return [f"{chunk_id}:{n}" for n in range(count)]


def sentence_records(chunk: Chunk) -> list[tuple[str, str, str]]:
    """(id, sentence, text to embed) for every sentence of a chunk.

    The sentence is embedded alone: prefixing its article's title scored no better in retrieval (seed
    set MRR 0.729 alone 0.743; bench set 0.812 / 0.833) and made the vectors unfit for verification.
    """
    spans = split_sentences(chunk.text)
    ids = sentence_ids(chunk.id, len(spans))
    return [(sid, chunk.text[a:b], chunk.text[a:b]) for sid, (a, b) in zip(ids, spans, strict=True)]


@dataclass(frozen=True)
class IndexProblems:
    orphan_sentences: list[str]  # sentence ids whose chunk is not in the index
    incomplete_chunks: list[str]  # chunk ids without all their sentences
    chunks: int

    def __bool__(self) -> bool:
        return bool(self.orphan_sentences or self.incomplete_chunks)

    def describe(self) -> str:
        return (
            f"{len(self.incomplete_chunks)} of {self.chunks} chunks lack sentence vectors and "
            f"{len(self.orphan_sentences)} sentence vectors have no chunk (an interrupted ingest)"
        )


@dataclass(frozen=True)
class SentenceMatch:
    chunk_id: str
    sentence: str
    score: float  # cosine similarity to the query


def open_client(settings: Settings, create: bool = False) -> Any:
    """A Chroma client for the settings' store: the server at `RAG_CHROMA_URL`, else the local folder
    (made when `create`). A dead server, a bad URL or a store that cannot be opened is our error, naming the fix."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        if not url.hostname:
            raise StoreUnavailable(f"RAG_CHROMA_URL '{settings.chroma_url}' is not a URL like http://host:8000")
        try:
            client = chromadb.HttpClient(
                host=url.hostname,
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
            client.heartbeat()
        except Exception as e:  # chromadb raises ValueError / httpx errors for a dead server
            raise StoreUnavailable(
                f"Cannot reach the Chroma server at {settings.chroma_url} ({e.__class__.__name__}). "
                "Start it (chroma run --path DIR --port PORT) or unset RAG_CHROMA_URL to use the local index."
            ) from e
        return client
    path = settings.chroma_path
    if not create and not path.exists():
        raise IndexNotBuilt(str(path))
    try:
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    except Exception as e:  # a damaged or incompatible store, or a folder we may not write
        raise StoreUnavailable(
            f"Cannot open the Chroma store at {path} ({e.__class__.__name__}: {e}). "
            "Check the folder's permissions, or delete it and run: rag ingest"
        ) from e


class ChunkStore:
    """Chunks and their vectors in one Chroma collection (cosine distance)."""

    def __init__(self, settings: Settings, embeddings: Embeddings) -> None:
        self.settings = settings
        self.embeddings = embeddings
        # the sentence index's width, when narrower than the vectors: part of the name the index records
        self.sentence_dims = settings.sentence_width
        suffix = f"+sentences@{self.sentence_dims}d" if self.sentence_dims else ""
        self.embedder = embedder_name(embeddings) + suffix
        self.runtime = str(getattr(embeddings, "runtime", ""))  # recorded; the name decides compatibility
        self._client: Any = None
        self._vectorstore: Any = None

    # -- connection -------------------------------------------------------------------------
    @property
    def location(self) -> str:
        return self.settings.chroma_url or str(self.settings.chroma_path)

    def client(self, create: bool = False) -> Any:
        if self._client is None:
            self._client = open_client(self.settings, create)
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

    def open_for_writing(self, rebuild: bool = False) -> str:
        """Create the collections if needed; drop and recreate them (vectors only) with `rebuild`, or when
        they hold another layout or another embedder's vectors. Returns why it rebuilt, or "".

        On a server, another embedder's index is refused instead: it may hold other machines' articles.
        """
        client = self.client(create=True)
        why = ""
        if self.exists():
            metadata = self._collection().metadata or {}
            layout, built = metadata.get("layout"), metadata.get("embedder")
            if rebuild:
                why = "rebuilt on request"
            elif layout in _UPGRADABLE and built == self.embedder:
                self._upgrade()
            elif layout != LAYOUT:
                why = f"the index layout changed ({layout} -> {LAYOUT}): rebuilt"
            elif built != self.embedder:
                if self.settings.chroma_url:
                    raise EmbedderMismatch(str(built), self.embedder)
                why = f"the index was built with {built}, the embedder is now {self.embedder}: rebuilt"
        if why:
            for name in (self.settings.collection_name, self.settings.sentence_collection_name):
                with contextlib.suppress(Exception):  # already gone (another machine may have deleted it)
                    client.delete_collection(name)
            self._vectorstore = None
        if not self.exists():
            # get-or-create, sentences first: two machines starting on one server both end up with the same
            # pair, and a sentence collection left by an interrupted creation is reused (`repair` tidies it)
            for name, metadata in (
                (self.settings.sentence_collection_name, {"embedder": self.embedder}),
                (
                    self.settings.collection_name,
                    {
                        "embedder": self.embedder,
                        "runtime": self.runtime,
                        "layout": LAYOUT,
                        "revision": uuid.uuid4().hex,
                    },
                ),
            ):
                client.get_or_create_collection(
                    name=name, metadata=metadata, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
                )
        self.check_embedder()
        return why

    def _upgrade(self) -> None:
        """Bring an index of an older layout to LAYOUT in place: add each record's `day` (its article's date
        as a number). Records are rewritten whole, a page at a time; the layout is marked last, so an
        interrupted upgrade is simply done again."""
        chunks, sentences = self._collection(), self._sentences()
        data = _get_all(chunks, ["metadatas"])
        day_of: dict[str, int] = {}
        for start in range(0, len(data["ids"]), _PAGE):
            ids = data["ids"][start : start + _PAGE]
            metas = [
                {**meta, "day": day_number(str(meta.get("date", "")))}
                for meta in data["metadatas"][start : start + _PAGE]
            ]
            day_of.update((str(meta["article_id"]), meta["day"]) for meta in metas)
            chunks.update(ids=ids, metadatas=metas)
        data = _get_all(sentences, ["metadatas"])
        for start in range(0, len(data["ids"]), _PAGE):
            ids = data["ids"][start : start + _PAGE]
            metas = [
                {**meta, "day": day_of.get(str(meta.get("article_id", "")), 0)}
                for meta in data["metadatas"][start : start + _PAGE]
            ]
            sentences.update(ids=ids, metadatas=metas)
        metadata = dict(chunks.metadata or {})
        metadata.update(layout=LAYOUT, revision=uuid.uuid4().hex)
        chunks.modify(metadata=metadata)

    def check_layout(self) -> None:
        """Raise unless the index has this code's layout (a search limited to a period needs `day`)."""
        layout = self.layout()
        if layout != LAYOUT:
            raise IndexNotBuilt(
                f"{self.location} in this version's layout ({layout} found, {LAYOUT} needed); "
                "`rag ingest` brings it up to date"
            )

    def revision(self) -> str:
        return str((self._collection().metadata or {}).get("revision", ""))

    def _bump_revision(self) -> None:
        collection = self._collection()
        metadata = dict(collection.metadata or {})
        metadata["revision"] = uuid.uuid4().hex
        collection.modify(metadata=metadata)

    # -- data -------------------------------------------------------------------------------
    def stored_ids(self) -> set[str]:
        return set(_get_all(self._collection(), [])["ids"])

    def stored_origins(self) -> dict[str, str]:
        """Each stored chunk's origin (host and corpus folder; "" for chunks that do not say)."""
        data = _get_all(self._collection(), ["metadatas"])
        return {
            cid: str((meta or {}).get("origin", "")) for cid, meta in zip(data["ids"], data["metadatas"], strict=True)
        }

    def chunk_metadata(self) -> list[dict[str, Any]]:
        """Every chunk's metadata (no text, no vector): what the index holds, article by article."""
        return list(_get_all(self._collection(), ["metadatas"])["metadatas"])

    def all_chunks(self) -> list[Chunk]:
        data = _get_all(self._collection(), ["documents", "metadatas"])
        chunks = [Chunk.from_stored(doc, meta) for doc, meta in zip(data["documents"], data["metadatas"], strict=True)]
        return sorted(chunks, key=lambda c: (c.article_id, c.index))

    def write(
        self, add: list[Chunk], delete: Iterable[str], progress: Callable[[WriteProgress], None] | None = None
    ) -> int:
        """Add new chunks, embedding them in batches, then delete stale chunk ids; returns the characters embedded.

        A chunk's row is the last thing written for it and the first removed, so whenever the process
        stops, every chunk in the index has all its sentences; what an interruption can leave behind is
        sentences without their chunk, which `repair` removes (and a rerun overwrites: ids are stable).
        The stale ids go last, so an embedder that fails midway (a server gone, a killed process) leaves a
        changed article's old passages answerable until the rerun replaces them.
        """
        delete = list(delete)
        embedded, written = 0, False
        try:
            chunks, sentences = self._collection(), self._sentences()
            report = _Progress(add, progress)
            for start in range(0, len(add), _BATCH):
                batch = add[start : start + _BATCH]
                own = {c.id: sentence_records(c) for c in batch}
                records = [(c, r) for c in batch for r in own[c.id]]
                # what each chunk's vector is the mean of: its sentences, or (none so far) its whole text
                parts = {c.id: [text for _, _, text in own[c.id]] or [c.text] for c in batch}
                texts = list(dict.fromkeys(text for c in batch for text in parts[c.id]))
                vectors = dict(zip(texts, self._embed(texts), strict=True))
                embedded += sum(map(len, texts))
                if records:
                    stored, metadatas = self.sentence_payload(
                        np.asarray([vectors[text] for _, (_, _, text) in records]),
                        [sentence_metadata(c) for c, _ in records],
                    )
                    sentences.upsert(
                        ids=[sid for _, (sid, _, _) in records],
                        documents=[sentence for _, (_, sentence, _) in records],
                        embeddings=stored,
                        metadatas=metadatas,
                    )
                chunks.upsert(  # an upsert: a chunk written by an interrupted run is simply rewritten
                    ids=[c.id for c in batch],
                    documents=[c.text for c in batch],
                    embeddings=np.asarray([_mean([vectors[text] for text in parts[c.id]]) for c in batch]),
                    metadatas=[c.metadata() for c in batch],
                )
                report.done(len(batch))
                written = True
            for start in range(0, len(delete), _BATCH):
                batch_ids = delete[start : start + _BATCH]
                chunks.delete(ids=batch_ids)
                sentences.delete(where={"chunk_id": {"$in": batch_ids}})
                written = True
            if written:
                self._bump_revision()
            return embedded
        except RagError:
            self._bump_after_failure(written)
            raise
        except Exception as e:  # the server went away, the disk filled up...
            self._bump_after_failure(written)
            raise StoreUnavailable(
                f"Writing to the index at {self.location} failed ({e.__class__.__name__}: {e}). What was written "
                "is consistent; fix the cause and run `rag ingest` again to finish."
            ) from e

    def sentence_payload(
        self, vectors: np.ndarray, metadatas: list[dict[str, Any]]
    ) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """What the sentence collection stores for these vectors: themselves, or with a narrower sentence
        index their first `sentence_dims` components (normalized), each whole vector packed in its metadata."""
        if not self.sentence_dims:
            return vectors, metadatas
        metadatas = [{**meta, VECTOR_KEY: packed(row)} for meta, row in zip(metadatas, vectors, strict=True)]
        return np.asarray(shortened(vectors, self.sentence_dims), dtype=np.float32), metadatas

    def _bump_after_failure(self, written: bool) -> None:
        """Searches in other processes see the batches written before a failure (best effort: the store
        may be what failed)."""
        if not written:
            return
        try:
            self._bump_revision()
        except Exception as e:  # noqa: BLE001 - the original failure is the one to report
            log.warning("could not mark the index as changed after a failed write: %s", e)

    def _embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.asarray(self.embeddings.embed_documents(texts), dtype=np.float32)

    # -- consistency ------------------------------------------------------------------------
    def problems(self, origins: Iterable[str] | None = None) -> IndexProblems:
        """What an interrupted write may have left: sentences whose chunk is missing, chunks missing sentences.

        With `origins`, only orphan sentences of those origins count: on a shared server another machine's
        ingest may be between writing a batch's sentences and its chunks.
        """
        data = _get_all(self._collection(), ["documents"])
        expected = {cid: len(split_sentences(doc)) for cid, doc in zip(data["ids"], data["documents"], strict=True)}
        counts: dict[str, int] = {}
        orphans: list[str] = []
        sentences = self._sentences()
        for sid in _get_all(sentences, [])["ids"]:  # ids only: a sentence's chunk is in its id
            chunk_id = sid.rpartition(":")[0]
            if chunk_id in expected:
                counts[chunk_id] = counts.get(chunk_id, 0) + 1
            else:
                orphans.append(sid)
        if origins is not None and orphans:  # the orphans' origins, read for them alone
            mine, kept = set(origins), []
            for start in range(0, len(orphans), _PAGE):
                data = sentences.get(ids=orphans[start : start + _PAGE], include=["metadatas"])
                kept += [
                    sid
                    for sid, meta in zip(data["ids"], data["metadatas"], strict=True)
                    if str((meta or {}).get("origin", "")) in mine
                ]
            orphans = kept
        incomplete = sorted(cid for cid, n in expected.items() if counts.get(cid, 0) != n)
        return IndexProblems(orphan_sentences=orphans, incomplete_chunks=incomplete, chunks=len(expected))

    def repair(self, origins: Iterable[str] | None = None) -> IndexProblems:
        """Remove what an interrupted write left half-done; the next write adds the missing chunks again."""
        found = self.problems(origins)
        sentences = self._sentences()
        for start in range(0, len(found.orphan_sentences), _BATCH * 8):
            sentences.delete(ids=found.orphan_sentences[start : start + _BATCH * 8])
        for start in range(0, len(found.incomplete_chunks), _BATCH):
            batch_ids = found.incomplete_chunks[start : start + _BATCH]
            self._collection().delete(ids=batch_ids)
            sentences.delete(where={"chunk_id": {"$in": batch_ids}})
        return found

    def embed_query(self, query: str) -> list[float]:
        return self.embeddings.embed_query(query)

    def dense_search(
        self, query: str | list[float], n: int, scope: Scope | None = None, ids: list[str] | None = None
    ) -> list[tuple[Chunk, float]]:
        """The n nearest chunks with cosine similarity (1 - cosine distance); `query` is text or its vector.
        With a `scope`, only its chunks: among `ids` when the caller gives the ones it admits, else Chroma
        filters them by their `day` and `article_id`."""
        self.check_embedder()
        vector = self.embed_query(query) if isinstance(query, str) else query
        if ids is not None:
            if not ids:
                return []
            found = self.vectorstore().similarity_search_by_vector_with_relevance_scores(
                vector, k=min(n, len(ids)), ids=ids
            )
            return [(Chunk.from_stored(doc.page_content, doc.metadata), 1.0 - float(dist)) for doc, dist in found]
        where = scope.where() if scope else None
        if where:
            self.check_layout()
        results = self.vectorstore().similarity_search_by_vector_with_relevance_scores(vector, k=n, filter=where)
        return [(Chunk.from_stored(doc.page_content, doc.metadata), 1.0 - float(dist)) for doc, dist in results]

    def sentence_vectors(
        self, chunk_ids: Iterable[str], counts: Mapping[str, int] | None = None
    ) -> dict[str, np.ndarray]:
        """The stored sentence vectors of the given chunks: one row per sentence, in text order. With `counts`
        (each chunk's number of sentences) they are read by their ids, which costs the same at any size of the
        index; else by their `chunk_id`, whose filter grew to 46 ms a search at 100,000 chunks."""
        chunk_ids = list(dict.fromkeys(chunk_ids))
        if not chunk_ids:
            return {}
        include = ["metadatas"] if self.sentence_dims else ["embeddings"]  # narrow: the whole vectors are packed
        if counts is not None and all(cid in counts for cid in chunk_ids):
            ids = [sid for cid in chunk_ids for sid in sentence_ids(cid, counts[cid])]
            data = self._sentences().get(ids=ids, include=include)
        else:
            data = self._sentences().get(where={"chunk_id": {"$in": chunk_ids}}, include=include)
        rows = data["metadatas"] if self.sentence_dims else data["embeddings"]
        found: dict[str, dict[int, Any]] = {}
        for sid, stored in zip(data["ids"], rows, strict=True):
            chunk_id, _, n = sid.rpartition(":")
            found.setdefault(chunk_id, {})[int(n)] = unpacked(stored[VECTOR_KEY]) if self.sentence_dims else stored
        return {cid: np.asarray([rows[n] for n in sorted(rows)], dtype=np.float32) for cid, rows in found.items()}

    def sentence_scores(
        self, vector: list[float], chunk_ids: list[str], counts: Mapping[str, int] | None = None
    ) -> dict[str, list[float]]:
        """Cosine similarity of a query vector to every stored sentence of the given chunks, in text order."""
        stored = self.sentence_vectors(chunk_ids, counts)
        return {cid: rescored(vector, rows).tolist() for cid, rows in stored.items()}

    def sentence_search(
        self, vector: list[float], n: int, scope: Scope | None = None, ids: list[str] | None = None
    ) -> list[SentenceMatch]:
        """The n sentences nearest to a query vector, best first (with a `scope`, only its chunks': among
        `ids`, the sentence ids it admits, when the caller gives them). With a narrower sentence index, its
        `SENTENCE_FUNNEL` x n nearest are ranked again by their whole vectors and the first n kept."""
        if ids is not None and not ids:
            return []
        # Chroma returns what there is when asked for more; counting the collection first cost 26 ms a search
        # at 600,000 sentences
        wanted = n * SENTENCE_FUNNEL if self.sentence_dims else n
        narrow = shortened([vector], self.sentence_dims)[0] if self.sentence_dims else vector
        result = self._sentences().query(
            query_embeddings=[narrow],
            n_results=wanted if ids is None else min(wanted, len(ids)),
            where=scope.where() if scope and ids is None else None,
            ids=ids,
            include=["documents", "metadatas", "distances"],
        )
        docs, metas = result["documents"][0], result["metadatas"][0]
        if not self.sentence_dims:
            scores = [1.0 - float(dist) for dist in result["distances"][0]]
        elif metas:
            scores = rescored(vector, np.asarray([unpacked(meta[VECTOR_KEY]) for meta in metas])).tolist()
        else:
            scores = []
        matches = [
            SentenceMatch(chunk_id=str(meta["chunk_id"]), sentence=doc, score=score)
            for doc, meta, score in zip(docs, metas, scores, strict=True)
        ]
        if not self.sentence_dims:
            return matches[:n]  # Chroma's order
        # a sentence shared by two overlapping chunks has one vector: equal scores, ranked by chunk id, so every
        # index of the same vectors ranks alike whatever order its narrow search returned them in
        return sorted(matches, key=lambda m: (-m.score, m.chunk_id))[:n]


def sentence_metadata(chunk: Chunk) -> dict[str, Any]:
    """What is stored beside a sentence's vector: its chunk, article, origin and day (for `where`)."""
    return {"chunk_id": chunk.id, "article_id": chunk.article_id, "origin": chunk.origin, "day": day_number(chunk.date)}


def _get_all(collection: Any, include: list[str]) -> dict[str, list[Any]]:
    """Every record of a collection, read a page at a time: one `get` of a whole large collection fails
    in Chroma's SQLite ("too many SQL variables", seen at 100k chunks)."""
    out: dict[str, list[Any]] = {"ids": [], **{key: [] for key in include}}
    offset, page = 0, _PAGE
    while True:
        data = collection.get(include=include, limit=page, offset=offset)
        for key in out:
            out[key].extend(data[key])
        if len(data["ids"]) < page:
            return out
        offset += page


def _mean(vectors: list[np.ndarray]) -> np.ndarray:
    """A chunk's vector: the normalized mean of its sentences' (unit) vectors."""
    mean = np.mean(vectors, axis=0)
    return mean / (np.linalg.norm(mean) or 1.0)


class _Progress:
    """Turns chunks written into `WriteProgress` (chunks and whole articles done) for a progress callback."""

    def __init__(self, add: list[Chunk], callback: Callable[[WriteProgress], None] | None) -> None:
        self.callback = callback
        self.last_chunk: dict[str, int] = {}  # article id -> position of its last chunk in `add`
        for i, chunk in enumerate(add):
            self.last_chunk[chunk.article_id] = i
        self.total = len(add)
        self.chunks = 0
        if callback and add:
            callback(WriteProgress(0, self.total, 0, len(self.last_chunk)))

    def done(self, n: int) -> None:
        self.chunks += n
        if self.callback:
            articles = sum(last < self.chunks for last in self.last_chunk.values())
            self.callback(WriteProgress(self.chunks, self.total, articles, len(self.last_chunk)))
