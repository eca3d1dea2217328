from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rag.corpus import (
    clean_lines,
    is_boilerplate,
    load_corpus,
    parse_date,
    read_article,
    title_from_lead,
    to_markdown,
)
from tests.conftest import FIXTURES, SEED_CORPUS
from tests.fakes import walk_with_unreadable

RAW = FIXTURES / "raw"


def raw_paragraphs(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if len(line.split()) > 15]


def test_raw_seed_txt_loses_boilerplate_and_keeps_the_body() -> None:
    path = RAW / "000_b5dd78022776d778.txt"
    article = read_article(path)
    for furniture in [
        "Cosa stai cercando?",
        "Cerca",
        "Seguici",
        "@motori_it",
        "Ti potrebbe interessare",
        "Motori_it",
        "TikTok",
    ]:
        assert furniture not in article.text
    body = raw_paragraphs(path)
    assert len(body) >= 8
    for paragraph in body:
        assert paragraph in article.text  # every body paragraph intact, word for word
    assert article.title == "Nasce l’alleanza Renault–Ford: nuovi modelli elettrici in arrivo dal 2028"
    assert article.title not in article.text  # the headline is metadata, not repeated in the body
    assert article.author == "Fabrizio Gimena"
    assert article.date == "2025-12-09"
    assert article.language == "it"
    assert article.text.startswith("Renault e Ford annunciano una partnership")
    assert article.text.endswith("non solo per i privati ma anche per le imprese.")


def test_raw_seed_with_only_a_date_gets_a_title_from_its_lead() -> None:
    article = read_article(RAW / "004_c4d4fa4d152ab83d.txt")
    assert article.date == "2025-09-17"
    assert article.publication == "unknown"
    assert article.title.startswith("Una collaborazione a livello di innovazione")
    assert article.text.startswith("Una collaborazione")
    assert "date 2025-09-17" not in article.text
    assert "550 milioni di euro" in article.text
    assert article.language == "it"


def test_html_page_with_other_navigation_and_footer() -> None:
    article = read_article(RAW / "page_renault_dealers.html")
    assert article.title == "Renault opens a training centre in Flins"
    assert article.publication == "AutoWeekly"
    assert article.author == "Jane Doe"
    assert article.date == "2025-10-14"
    assert article.language == "en"
    for furniture in ["Cars", "Contact us", "Search", "Share on", "Most read", "Ten cars", "Follow us",
                      "@autoweekly", "©", "Privacy", "Related articles", "Ford and Renault sign", "dataLayer",
                      "font-family", "By Jane Doe"]:  # fmt: skip
        assert furniture not in article.text, furniture
    assert "The centre will train 1,200 people a year in battery repair." in article.text
    assert "costs 12 million euros" in article.text
    assert "“Skills are the bottleneck of the transition,” a spokesperson said." in article.text


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Seguici su Instagram", True),
        ("Follow us on X @someone", True),
        ("Home | Politica | Economia | Sport", True),
        ("Iscriviti alla newsletter", True),
        ("Copyright 2025 Editore Srl", True),
        ("Menu", True),
        ("Il sito ora produce per 4 marche.", False),
        ("Privacy, il Garante multa la società per 5 milioni di euro.", False),
        ("Cerca di rilanciare il marchio in Europa entro il 2028.", False),
        ("Share prices fell 4% on Monday after the announcement.", False),
        ("Meta owns Facebook and Instagram.", False),
        ("Renault e Ford annunciano una partnership per sviluppare due nuovi veicoli elettrici.", False),
    ],
)
def test_boilerplate_is_recognised_by_shape(line: str, expected: bool) -> None:
    assert is_boilerplate(line) is expected


def test_parse_date_formats() -> None:
    assert parse_date("Pubblicato il 9 dic 2025") == "2025-12-09"
    assert parse_date("17 settembre 2025") == "2025-09-17"
    assert parse_date("Published 3 March 2024") == "2024-03-03"
    assert parse_date("2025-09-17T10:00") == "2025-09-17"
    assert parse_date("senza data") == ""


def test_seed_corpus_has_front_matter() -> None:
    result = load_corpus([SEED_CORPUS])
    assert result.skipped == []
    by_id = {a.id: a for a in result.articles}
    assert len(by_id) == 2
    ford = next(a for a in result.articles if "Ford" in a.title)
    assert ford.date == "2025-12-09" and ford.author == "Fabrizio Gimena" and ford.language == "it"
    alliance = next(a for a in result.articles if a is not ford)
    assert alliance.date == "2025-09-17" and alliance.publication == "unknown"


def test_bad_files_are_skipped_with_their_names_and_the_rest_loads(tmp_path: Path) -> None:
    shutil.copy(SEED_CORPUS / next(p.name for p in SEED_CORPUS.glob("*.md")), tmp_path / "good.md")
    (tmp_path / "empty.md").write_text("   \n")
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02PNG\x00" * 20)
    (tmp_path / "latin1.txt").write_bytes("Città di Douai, è un test.".encode("latin-1"))
    (tmp_path / "broken.md").write_text("---\ntitle: [unclosed\n---\nTesto dell'articolo.\n")
    (tmp_path / "notes.pdf").write_bytes(b"%PDF")  # not an article type: ignored
    (tmp_path / ".ipynb_checkpoints").mkdir()
    shutil.copy(tmp_path / "good.md", tmp_path / ".ipynb_checkpoints" / "good-checkpoint.md")  # hidden folder
    result = load_corpus([tmp_path])
    assert [a.id for a in result.articles] == ["good"]
    joined = "\n".join(result.skipped)
    for name, reason in [
        ("empty.md", "empty"),
        ("binary.txt", "binary"),
        ("latin1.txt", "UTF-8"),
        ("broken.md", "YAML"),
    ]:
        assert name in joined and reason in joined
    assert "notes.pdf" not in joined


def test_markdown_round_trip(tmp_path: Path) -> None:
    article = read_article(RAW / "000_b5dd78022776d778.txt")
    path = tmp_path / "ford.md"
    path.write_text(to_markdown(article), encoding="utf-8")
    again = read_article(path)
    assert (again.title, again.date, again.author, again.language, again.text) == (
        article.title, article.date, article.author, article.language, article.text,
    )  # fmt: skip


def test_a_related_heading_ends_the_article_but_a_sentence_starting_alike_does_not() -> None:
    body, _ = clean_lines(
        ["Prima frase dell'articolo.", "Related to this, the board approved the plan.", "Ultima frase."]
    )
    assert body == ["Prima frase dell'articolo.", "Related to this, the board approved the plan.", "Ultima frase."]
    body, _ = clean_lines(["Prima frase dell'articolo.", "Leggi anche", "Un altro articolo qualsiasi."])
    assert body == ["Prima frase dell'articolo."]


def test_front_matter_title_keeps_the_first_line_in_the_body(tmp_path: Path) -> None:
    path = tmp_path / "a.md"
    path.write_text("---\ntitle: Titolo vero\n---\n\n## Il contesto del mercato europeo\n\nIl mercato cresce.\n")
    article = read_article(path)
    assert article.title == "Titolo vero"
    assert article.text.startswith("Il contesto del mercato europeo")


def test_a_repeated_block_is_kept_once_where_it_first_appears() -> None:
    lines = [
        "Renault e Ford firmano l'accordo a Parigi.",
        "The plant in Douai will build both cars.",
        "Renault e Ford firmano l'accordo a Parigi.",  # an aggregator repeats the lead further down
        "Il sito produrrà 1.500 veicoli al giorno.",
        "The plant in Douai will build both cars.",
    ]
    body, _ = clean_lines(lines, find_title=False)
    assert body == [
        "Renault e Ford firmano l'accordo a Parigi.",
        "The plant in Douai will build both cars.",
        "Il sito produrrà 1.500 veicoli al giorno.",
    ]


@pytest.mark.parametrize(
    ("text", "title"),
    [
        (
            "Il sig. Rossi è arrivato a Torino. Poi è partito.\n\nSecondo paragrafo.",
            "Il sig. Rossi è arrivato a Torino",
        ),
        (
            "Mr. Smith met Dr. Jones in the U.S. Then he left.\n\nSecond paragraph.",
            "Mr. Smith met Dr. Jones in the U.S",
        ),
        ("Una riga senza punto finale\n\nSeconda riga.", "Una riga senza punto finale"),
        ("\n\n  A first line after blank lines. Another.", "A first line after blank lines"),
    ],
)
def test_title_from_lead_is_the_first_sentence_of_the_first_paragraph(text: str, title: str) -> None:
    assert title_from_lead(text) == title


def test_the_language_of_a_long_file_is_read_from_its_opening(tmp_path: Path) -> None:
    opening = "".join(f"Il sito di Douai produrrà {n} auto per il mercato europeo nel 2028.\n" for n in range(400))
    appendix = "".join(f"The plant in Douai will build {n} cars for the European market.\n" for n in range(2000))
    path = tmp_path / "long.txt"
    path.write_text(opening + appendix, encoding="utf-8")  # mostly English, but it opens in Italian
    article = read_article(path)
    assert len(article.text) > 100_000
    assert article.language == "it"


def test_the_same_text_under_two_names_is_loaded_once_and_the_other_named(tmp_path: Path) -> None:
    seed = next(iter(SEED_CORPUS.glob("*.md")))
    shutil.copy(seed, tmp_path / "a.md")
    shutil.copy(seed, tmp_path / "b-copia.md")
    result = load_corpus([tmp_path])
    assert [a.id for a in result.articles] == ["a"]
    assert "b-copia.md: same text as" in result.skipped[0] and "a.md" in result.skipped[0]


def test_a_folder_that_cannot_be_listed_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(next(iter(SEED_CORPUS.glob("*.md"))), tmp_path / "a.md")
    (tmp_path / "private").mkdir()
    monkeypatch.setattr("rag.corpus.os.walk", walk_with_unreadable("private"))
    result = load_corpus([tmp_path])
    assert [a.id for a in result.articles] == ["a"] and result.unreadable == [tmp_path / "private"]
    assert "private: folder cannot be read" in result.skipped[0]


def test_each_article_records_the_machine_and_folder_it_came_from(tmp_path: Path) -> None:
    import socket

    (tmp_path / "sub").mkdir()
    shutil.copy(next(iter(SEED_CORPUS.glob("*.md"))), tmp_path / "sub" / "a.md")
    (article,) = load_corpus([tmp_path]).articles
    assert article.origin == f"{socket.gethostname()}:{tmp_path.resolve()}"


def test_utf16_text_is_read_and_an_odd_encoding_is_named(tmp_path: Path) -> None:
    text = "Titolo di prova\n\nUn testo in UTF-16 con abbastanza parole per essere un articolo vero.\n"
    (tmp_path / "u16.txt").write_bytes(text.encode("utf-16"))
    assert "UTF-16 con abbastanza" in read_article(tmp_path / "u16.txt").text
    (tmp_path / "u32.txt").write_bytes(text.encode("utf-32-le"))
    with pytest.raises(ValueError, match="encoding other than UTF-8 and UTF-16"):
        read_article(tmp_path / "u32.txt")
