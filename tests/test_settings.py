from __future__ import annotations

from pathlib import Path

import pytest

from rag.cli import build_parser, make_settings
from rag.settings import Settings


def test_env_vars_fill_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_K", "7")
    monkeypatch.setenv("RAG_CORPUS", "a,b")
    monkeypatch.setenv("RAG_CHROMA_URL", "http://127.0.0.1:9000")
    settings = Settings()
    assert settings.k == 7
    assert settings.corpus == (Path("a"), Path("b"))
    assert settings.chroma_url == "http://127.0.0.1:9000"


def test_default_corpus_uses_default_index(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAG_INDEX")
    settings = Settings()
    assert settings.index_dir == Path("index") and settings.collection_name == "articles"


def test_other_corpus_never_writes_over_the_default_index(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAG_INDEX")
    one = Settings(corpus=(Path("corpus"), Path("tests/fixtures/distractors")))
    two = Settings(corpus=(Path("tests/fixtures/distractors"),))
    assert one.index_dir != Path("index") and one.index_dir.parent == Path("index")
    assert one.index_dir != two.index_dir
    assert one.collection_name != "articles" and one.collection_name != two.collection_name
    assert Settings(corpus=(Path("x"),), index=Path("mine")).index_dir == Path("mine")


@pytest.mark.parametrize(
    "argv",
    [
        ["--index", "X", "--corpus", "c1", "ask", "q"],
        ["ask", "q", "--index", "X", "--corpus", "c1"],
        ["--index", "X", "ask", "--corpus", "c1", "q"],
    ],
)
def test_shared_options_before_or_after_the_subcommand(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    settings = make_settings(args)
    assert settings.index_dir == Path("X")
    assert settings.corpus == (Path("c1"),)
    assert args.question == "q"


def test_repeated_corpus_forms_one_corpus() -> None:
    args = build_parser().parse_args(["ingest", "--corpus", "a", "--corpus", "b"])
    assert make_settings(args).corpus == (Path("a"), Path("b"))


def test_corpus_before_and_after_the_subcommand_add_up() -> None:
    args = build_parser().parse_args(["--corpus", "a", "ingest", "--corpus", "b"])
    assert make_settings(args).corpus == (Path("a"), Path("b"))


def test_bad_settings_are_rejected_with_the_field_named() -> None:
    import pydantic

    with pytest.raises(pydantic.ValidationError, match="chunk_overlap"):
        Settings(chunk_size=100, chunk_overlap=100)
    with pytest.raises(pydantic.ValidationError, match="k"):
        Settings(k=0)


def test_every_index_on_a_shared_server_has_its_own_collection(tmp_path: Path) -> None:
    server = "http://127.0.0.1:8000"
    a = Settings(chroma_url=server, index=tmp_path / "a")
    b = Settings(chroma_url=server, index=tmp_path / "b")
    assert a.collection_name != b.collection_name and a.collection_name.startswith("articles-")
    assert Settings(chroma_url=server, index=tmp_path / "a").collection_name == a.collection_name  # stable
    assert Settings(index=tmp_path / "a").collection_name == "articles"  # a local index has its own folder
    shared = Settings(chroma_url=server, index=tmp_path / "a", collection="newsroom")
    assert shared.collection_name == "newsroom" and shared.sentence_collection_name == "newsroom-sentences"


def test_a_collection_name_chroma_would_refuse_is_a_settings_error() -> None:
    with pytest.raises(ValueError, match="not a collection name"):
        Settings(collection="a b")


def test_similarity_settings_follow_the_embedder_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    gemma = Settings()
    e5 = gemma.model_copy(update={"embedder": "e5"})
    assert gemma.profile.min_dense_score < e5.profile.min_dense_score  # each on its own embedder's scale
    assert gemma.profile.min_support < e5.profile.min_support
    assert not gemma.profile.balance_languages and e5.profile.balance_languages
    monkeypatch.setenv("RAG_MIN_SUPPORT", "0.5")
    monkeypatch.setenv("RAG_BALANCE_LANGUAGES", "true")
    chosen = Settings()
    assert chosen.profile.min_support == 0.5 and chosen.profile.balance_languages
    assert chosen.profile.min_dense_score == gemma.profile.min_dense_score


def test_fusion_weights_follow_the_embedder_and_the_rule_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    gemma, e5 = Settings(), Settings(embedder="e5")
    assert gemma.fusion_params.rule == "score" and not gemma.fusion_params.balance_languages
    assert e5.fusion_params.balance_languages  # centring is part of e5's score fusion
    assert (gemma.fusion_params.chunk_weight, gemma.fusion_params.keyword_weight) != (
        e5.fusion_params.chunk_weight,
        e5.fusion_params.keyword_weight,
    )
    rrf = Settings(fusion="rrf")
    assert rrf.fusion_params.rule == "rrf" and rrf.fusion_params.chunk_weight != gemma.fusion_params.chunk_weight
    monkeypatch.setenv("RAG_KEYWORD_WEIGHT", "0.7")
    monkeypatch.setenv("RAG_FUSION", "rrf")
    monkeypatch.setenv("RAG_RRF_K", "30")
    chosen = Settings().fusion_params
    assert (chosen.rule, chosen.keyword_weight, chosen.rrf_k) == ("rrf", 0.7, 30)
    assert chosen.chunk_weight == rrf.fusion_params.chunk_weight
    monkeypatch.setenv("RAG_FUSION", "sum")
    with pytest.raises(ValueError):
        Settings()


def test_the_reader_and_its_decision_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from rag.answer import ComposingPipeline, ExtractingPipeline, make_pipeline

    monkeypatch.setenv("RAG_READER", "extract")
    monkeypatch.setenv("RAG_READER_NOT_FOUND", "0.3")
    monkeypatch.setenv("RAG_ABSTAIN_RULES", "names_in_cited")
    settings = Settings()
    policy = settings.reader_policy
    assert policy.max_not_found == 0.3 and policy.min_span_logprob == -1.0
    assert policy.premise.names_in_cited and not policy.premise.qualifiers
    made = make_pipeline(settings, None, None, None)  # type: ignore[arg-type]
    assert isinstance(made.reader, ExtractingPipeline) and made.reader.policy == policy
    assert isinstance(make_pipeline(Settings(reader="compose"), None, None, None).reader, ComposingPipeline)  # type: ignore[arg-type]
    monkeypatch.setenv("RAG_READER", "guess")
    with pytest.raises(ValueError, match="reader"):
        Settings()
