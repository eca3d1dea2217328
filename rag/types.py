"""The data that travels through the pipeline: Article -> Chunk -> Hit -> Answer."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .periods import day_number


@dataclass(frozen=True)
class Article:
    """One cleaned article. `text` is the cleaned body that chunk offsets point into."""

    id: str
    title: str
    date: str  # ISO yyyy-mm-dd, or "" when unknown
    language: str  # "it" | "en"
    text: str
    author: str = ""
    publication: str = "unknown"
    source_path: str = ""
    content_hash: str = ""
    origin: str = ""  # host and corpus folder it was loaded from (rag/corpus.py origin_of)


@dataclass(frozen=True)
class Chunk:
    """A passage of an article. `text == article.text[start:end]`."""

    id: str
    article_id: str
    title: str
    date: str
    language: str
    publication: str
    text: str
    start: int
    end: int
    index: int
    author: str = ""
    source: str = ""  # the article's file, so the index alone can say what it holds
    content_hash: str = ""  # the article's
    origin: str = ""  # the article's

    def header(self) -> str:
        """The article's metadata as shown with the passage: title (date, author, publication)."""
        extra = [x for x in (self.date, self.author, self.publication if self.publication != "unknown" else "") if x]
        return self.title + (f" ({', '.join(extra)})" if extra else "")

    def metadata(self) -> dict[str, Any]:
        """Flat metadata as stored next to the vector in Chroma; `day` is the date as yyyymmdd (0: none), a
        number so that a search can be limited to a period with Chroma's `where`."""
        data = asdict(self)
        data.pop("text")
        data["chunk_id"] = data.pop("id")
        data["day"] = day_number(self.date)
        return data

    @classmethod
    def from_stored(cls, text: str, meta: dict[str, Any]) -> Chunk:
        return cls(
            id=str(meta["chunk_id"]),
            article_id=str(meta["article_id"]),
            title=str(meta.get("title", "")),
            date=str(meta.get("date", "")),
            language=str(meta.get("language", "")),
            publication=str(meta.get("publication", "unknown")),
            text=text,
            start=int(meta.get("start", 0)),
            end=int(meta.get("end", 0)),
            index=int(meta.get("index", 0)),
            author=str(meta.get("author", "")),
            source=str(meta.get("source", "")),
            content_hash=str(meta.get("content_hash", "")),
            origin=str(meta.get("origin", "")),
        )


@dataclass(frozen=True)
class Scope:
    """What a search may return: chunks of articles published from `first_day` to `last_day` (yyyymmdd, both
    included; 0: open), and of `article_ids` only when given. An article without a date is in no period."""

    first_day: int = 0
    last_day: int = 0
    article_ids: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.first_day or self.last_day or self.article_ids)

    @property
    def dated(self) -> bool:
        return bool(self.first_day or self.last_day)

    def admits(self, chunk: Chunk) -> bool:
        if self.article_ids and chunk.article_id not in self.article_ids:
            return False
        if self.dated:
            day = day_number(chunk.date)
            return day > 0 and self.first_day <= day and (not self.last_day or day <= self.last_day)
        return True

    def where(self) -> dict[str, Any] | None:
        """The same rule as a Chroma `where` filter on the `day` and `article_id` metadata (None: no filter)."""
        conditions: list[dict[str, Any]] = []
        if self.dated:
            conditions.append({"day": {"$gte": max(self.first_day, 1)}})
        if self.last_day:
            conditions.append({"day": {"$lte": self.last_day}})
        if self.article_ids:
            conditions.append({"article_id": {"$in": sorted(self.article_ids)}})
        if not conditions:
            return None
        return conditions[0] if len(conditions) == 1 else {"$and": conditions}


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its fused score and the scores of each retriever."""

    chunk: Chunk
    rank: int
    score: float
    dense_score: float | None = None  # cosine similarity of the whole chunk
    keyword_score: float | None = None  # BM25
    sentence_score: float | None = None  # cosine similarity of its best sentence
    best_sentence: str = ""  # the chunk's sentence closest to the question
    sentence_scores: tuple[float, ...] = ()  # similarity of each sentence of chunk.text, in text order
    spans: tuple[tuple[int, int], ...] = ()  # those sentences' (start, end) in chunk.text, as the store split them


@dataclass(frozen=True)
class Citation:
    marker: int
    article_id: str
    title: str
    date: str
    publication: str
    chunk_id: str
    text: str
    sentence: str | None = None

    @classmethod
    def of(cls, marker: int, chunk: Chunk, sentence: str | None) -> Citation:
        """Marker `[marker]` citing `chunk`, with the sentence of it that supports the claim."""
        return cls(marker, chunk.article_id, chunk.title, chunk.date, chunk.publication, chunk.id, chunk.text, sentence)


@dataclass(frozen=True)
class Source:
    rank: int
    chunk_id: str
    article_id: str
    title: str
    score: float
    text: str
    sentence: str = ""  # the passage's sentence closest to the question
    sentence_score: float | None = None  # that sentence's similarity to the question


@dataclass(frozen=True)
class Timings:
    retrieve_ms: int = 0
    evidence_ms: int = 0  # from the question to the closest passages shown (0: the chain shows none first)
    ttft_ms: int = 0  # from the question to the first token of the answer the reader sees
    generate_ms: int = 0
    total_ms: int = 0
    # the model's work over all its calls for this answer (llama.cpp's counters; 0 for other backends)
    llm_calls: int = 0
    prompt_tokens: int = 0
    prefill_tokens: int = 0  # prompt tokens evaluated (the rest came from a cached prefix)
    completion_tokens: int = 0
    prefill_ms: int = 0
    decode_ms: int = 0
    stages: dict[str, int] = field(default_factory=dict)  # ms of each named step, in the order they ran


@dataclass(frozen=True)
class Answer:
    question: str
    language: str
    answer: str
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)
    raw_answer: str = ""  # the model's text before citation clean-up
    context_ids: list[str] = field(default_factory=list)  # chunk ids in the prompt, in marker order
    standalone_question: str = ""  # a follow-up as rewritten for retrieval ("" when asked as is)
    second_look: bool = False  # answered from the closest sentences after the full prompt found nothing
    # the model's probability of opening its reply to the (first) prompt with the not-found marker, also when
    # a second look then answered (None: the backend cannot tell)
    not_found_probability: float | None = None
    abstain_reason: str = ""  # why a verified answer was withheld (rag/abstain.py); "" otherwise
    withheld: Answer | None = None  # that answer with its citations, kept for the eval's coverage curve
    # the extracting reader (rag/answer/chain.py): "answer", "evidence" (the closest passages, asserting
    # nothing) or "abstain"; the short answer it gave or would have given (in the question's language), the
    # span it was copied from, and the signals its decision read (replayed by evals/tune_reader.py)
    outcome: str = ""
    short_answer: str = ""
    span: str = ""
    signals: dict[str, Any] = field(default_factory=dict)
    # how the news-aware front (rag/answer/news.py) routed the question: "metadata:<field>", "uncovered",
    # "period" (searched within a period), "latest"/"earliest", "gap", "changes"; "" for the reader alone
    route: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The public JSON shape (`rag ask --json`)."""
        return {
            "question": self.question,
            "language": self.language,
            "answer": self.answer,
            "abstained": self.abstained,
            "standalone_question": self.standalone_question,
            "second_look": self.second_look,
            "not_found_probability": self.not_found_probability,
            "abstain_reason": self.abstain_reason,
            "outcome": self.outcome or ("abstain" if self.abstained else "answer"),
            "short_answer": self.short_answer,
            "route": self.route,
            "citations": [asdict(c) for c in self.citations],
            "sources": [asdict(s) for s in self.sources],
            "timings": asdict(self.timings),
        }


@dataclass(frozen=True)
class WriteProgress:
    """How far a write into the index has come: chunks embedded and written, and articles whose chunks all are."""

    chunks_done: int
    chunks_total: int
    articles_done: int
    articles_total: int


@dataclass(frozen=True)
class IngestReport:
    articles: int
    chunks: int
    added: int
    removed: int
    unchanged: int
    skipped_files: list[str] = field(default_factory=list)
    repaired: int = 0  # chunks an interrupted earlier run had left without sentences, written again
    embedded_chars: int = 0  # characters given to the embedder (each distinct sentence once)
    rebuilt: str = ""  # why the index was dropped and built again (another embedder, layout, --rebuild)
