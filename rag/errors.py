"""The project's own exceptions. Each message names the problem and the fix."""

from __future__ import annotations


class RagError(Exception):
    """Base class: the CLI and UI turn these into messages and exit codes."""


class EmptyQuestion(RagError):
    def __init__(self) -> None:
        super().__init__('The question is empty. Type a question, e.g. rag ask "Chi guida Renault Group?"')


class IndexNotBuilt(RagError):
    def __init__(self, where: str) -> None:
        super().__init__(f"No index at {where}. Build it with: rag ingest")


class EmbedderMismatch(RagError):
    def __init__(self, built_with: str, querying_with: str) -> None:
        super().__init__(
            f"The index was built with embedder '{built_with}' but this run uses '{querying_with}'. "
            "Re-ingest with the current embedder: rag ingest --rebuild "
            "(or set RAG_EMBEDDER back to the one that built the index)." + _width_hint(built_with, querying_with)
        )


def _width_hint(built_with: str, querying_with: str) -> str:
    """When only the sentence index's width differs ("<embedder>+sentences@128d"), the setting that keeps the index."""
    built, _, built_width = built_with.partition("+sentences@")
    now, _, now_width = querying_with.partition("+sentences@")
    if built != now or built_width == now_width:
        return ""
    return f" Only its sentence index's width differs: RAG_SENTENCE_DIMS={built_width.removesuffix('d') or 0} keeps it."


class ModelUnavailable(RagError):
    """The LLM or embedding model cannot be found, assembled or loaded."""


class StoreUnavailable(RagError):
    """The Chroma store or server cannot be reached."""


class CorpusError(RagError):
    """A corpus folder or article file cannot be used."""


class ModelCrashed(RagError):
    """The local model's process died while loading or answering (it is restarted for the next call)."""
