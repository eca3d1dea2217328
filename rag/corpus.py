"""Load articles (.md/.txt/.html, optional YAML front matter) and strip page boilerplate.

Boilerplate is recognised by its shape, not by one site's exact lines: navigation and
footer elements in HTML; in any text, lines that are follow/share/search prompts, social
handles, menus, copyright notices, and everything after a "related articles" heading.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date as Date
from pathlib import Path
from typing import Any

import yaml

from .language import detect_language
from .types import Article

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm")

_MONTHS = {
    "gen": 1, "gennaio": 1, "jan": 1, "january": 1,
    "feb": 2, "febbraio": 2, "february": 2,
    "mar": 3, "marzo": 3, "march": 3,
    "apr": 4, "aprile": 4, "april": 4,
    "mag": 5, "maggio": 5, "may": 5,
    "giu": 6, "giugno": 6, "jun": 6, "june": 6,
    "lug": 7, "luglio": 7, "jul": 7, "july": 7,
    "ago": 8, "agosto": 8, "aug": 8, "august": 8,
    "set": 9, "sett": 9, "settembre": 9, "sep": 9, "sept": 9, "september": 9,
    "ott": 10, "ottobre": 10, "oct": 10, "october": 10,
    "nov": 11, "novembre": 11, "november": 11,
    "dic": 12, "dicembre": 12, "dec": 12, "december": 12,
}  # fmt: skip

# A line that starts a "more stories" block: it and everything after it are not the article.
_TAIL_START = re.compile(
    r"^\s*(ti potrebbe(ro)? interessare|potrebbe interessarti|leggi anche|leggi pure|articoli correlati|"
    r"altri articoli|potrebbe piacerti|related( articles| stories| posts| news)?|you may also like|"
    r"you might also like|more (stories|from)|read (more|next)|recommended( for you)?)\b",
    re.IGNORECASE,
)
# Lines that are page furniture wherever they appear.
_FURNITURE = re.compile(
    r"^\s*(seguici|segui(ci)? anche|follow us|follow|condividi|share( this)?|iscriviti|subscribe|sign up|"
    r"newsletter|cerca|search|cosa stai cercando|menu|home|accedi|login|log in|registrati|cookie|privacy|"
    r"tutti i diritti|all rights reserved|©|\(c\)|copyright|p\.? ?iva|partita iva|torna su|back to top|"
    r"skip to|vai al contenuto|pubblicit[aà]|advertisement|sponsored|tags?:|argomenti:)\b",
    re.IGNORECASE,
)
_HANDLE = re.compile(r"(^|\s)@\w{2,}")
_SOCIAL = re.compile(r"\b(facebook|instagram|tiktok|twitter|linkedin|youtube|whatsapp|telegram|x\.com)\b", re.I)
_NAV_SEPARATORS = re.compile(r"\s[|·•»/]\s")
_BYLINE = re.compile(
    r"^\s*(?i:di|by|a cura di|autore:|author:)\s+(?P<name>[A-ZÀ-Ý][\w'’.-]+(\s+[A-ZÀ-Ý][\w'’.-]+){0,3})\s*$"
)
_DATE_LINE = re.compile(
    r"^\s*(pubblicato( il)?|aggiornato( il)?|published( on)?|updated( on)?|data:|date:?)\s+(?P<when>.+?)\s*$",
    re.IGNORECASE,
)
_LEADING_DATE = re.compile(r"^\s*date:?\s+(?P<iso>\d{4}-\d{2}-\d{2})\s+", re.IGNORECASE)
_ISO_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_TEXT_DATE = re.compile(r"\b(\d{1,2})\s+([A-Za-zà-ù]+)\.?\s+(\d{4})\b")
_SENTENCE_END = re.compile(r"[.!?…:;»\"”)]\s*$")
# Language is decided on the article's opening characters: a whole news article fits, and a
# book-length file costs no more than one article (detection is ~1 s per 2 MB otherwise).
_LANGUAGE_SAMPLE = 20_000


@dataclass(frozen=True)
class LoadResult:
    articles: list[Article]
    skipped: list[str]  # "path: reason"
    unreadable: list[Path] = field(default_factory=list)  # folders that could not be listed


def parse_date(text: str) -> str:
    """Find a date in free text and return it as yyyy-mm-dd, or "".

    Example: "Pubblicato il 9 dic 2025" -> "2025-12-09".
    """
    iso = _ISO_DATE.search(text)
    if iso:
        return iso.group(0)
    for day, month, year in _TEXT_DATE.findall(text):
        number = _MONTHS.get(month.casefold().rstrip("."))
        if number:
            try:
                return Date(int(year), number, int(day)).isoformat()
            except ValueError:
                continue
    return ""


def split_front_matter(raw: str) -> tuple[dict[str, Any], str]:
    """Split `---` YAML front matter from the body. Broken YAML is an error, not silently body."""
    if not raw.startswith("---"):
        return {}, raw
    match = re.match(r"^---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(\r?\n|$)", raw, re.DOTALL)
    if not match:
        return {}, raw
    data = yaml.safe_load(match.group(1)) or {}
    if not isinstance(data, dict):
        raise ValueError("front matter is not a mapping of keys to values")
    return data, raw[match.end() :]


def _is_label(line: str, max_words: int) -> bool:
    """Shaped like page furniture rather than prose: few words, or no sentence punctuation at the end."""
    return len(line.split()) <= max_words or not _SENTENCE_END.search(line)


def is_boilerplate(line: str) -> bool:
    """True for page furniture: menus, follow/share prompts, handles, copyright, search boxes.

    Prose is never furniture: "Privacy, il Garante multa…" or "Share prices fell 4% on Monday." stay.
    """
    stripped = line.strip()
    if not stripped:
        return False
    words = stripped.split()
    if _FURNITURE.match(stripped) and _is_label(stripped, 3):
        return True
    if _HANDLE.search(stripped) and len(words) <= 8 and _is_label(stripped, 3):
        return True
    if _SOCIAL.search(stripped) and len(words) <= 6 and not _SENTENCE_END.search(stripped):
        return True
    if len(_NAV_SEPARATORS.findall(stripped)) >= 2 and not _SENTENCE_END.search(stripped):
        return True
    # one to three words with no sentence punctuation: a menu item, a label, a site name
    return len(words) <= 3 and not _SENTENCE_END.search(stripped)


def starts_related_block(line: str) -> bool:
    """A "Ti potrebbe interessare" / "Related articles" heading: it and what follows are not the article."""
    return bool(_TAIL_START.match(line)) and len(line.split()) <= 6 and not _SENTENCE_END.search(line)


_MIN_PAGE_PARAGRAPH_WORDS = 8  # a page whose longest block is shorter holds no article
_HTML_LANG = re.compile(r"<html\b[^>]*?\blang\s*=\s*[\"']?([A-Za-z]{2})", re.IGNORECASE)


def _html_blocks(html: str) -> tuple[list[str], dict[str, str]]:
    """The main text of a news page as lines, and its metadata (title, date, author, site name,
    language), by trafilatura: the article without the page's navigation, share bars and footers."""
    import trafilatura

    logging.getLogger("trafilatura").setLevel(logging.ERROR)  # its "empty page" notes are our ValueError
    doc = trafilatura.bare_extraction(
        html, with_metadata=True, include_comments=False, include_tables=False, favor_precision=True
    )
    if doc is None:
        return [], {}
    data = doc if isinstance(doc, dict) else doc.as_dict()
    meta = {
        key: str(data[field]).strip()
        for key, field in (("title", "title"), ("author", "author"), ("date", "date"), ("publication", "sitename"))
        if data.get(field)
    }
    declared = _HTML_LANG.search(html[:5000])
    language = (declared.group(1) if declared else str(data.get("language") or ""))[:2].lower()
    if language:
        meta["language"] = language
    lines = [line for line in str(data.get("text") or "").splitlines() if not line.lstrip().startswith("©")]
    if not any(len(line.split()) >= _MIN_PAGE_PARAGRAPH_WORDS for line in lines):
        return [], meta  # a page of menus and a footer: nothing an article would say
    return lines, meta


def clean_lines(lines: Iterable[str], find_title: bool = True) -> tuple[list[str], dict[str, str]]:
    """Drop boilerplate lines and pull byline/date/title lines out as metadata.

    Returns the body paragraphs and what was found: title, author, date. With `find_title` off
    (the title is known from front matter or the page head) the first line stays in the body.
    """
    found: dict[str, str] = {}
    body: list[str] = []
    seen: set[str] = set()  # the body as a set: a repeat is found in one lookup, not a scan of the body
    for raw in lines:
        line = " ".join(raw.split())
        if not line:
            continue
        if body and starts_related_block(line):
            break
        lead = _LEADING_DATE.match(line)
        if lead:
            found.setdefault("date", lead.group("iso"))
            line = line[lead.end() :]
        byline = _BYLINE.match(line)
        if byline:
            found.setdefault("author", byline.group("name"))
            continue
        dated = _DATE_LINE.match(line)
        if dated and len(line.split()) <= 8 and parse_date(dated.group("when")):
            found.setdefault("date", parse_date(dated.group("when")))
            continue
        if is_boilerplate(line):
            continue
        # a headline: no sentence punctuation at the end, before any paragraph of the body
        if (
            find_title
            and "title" not in found
            and not body
            and not _SENTENCE_END.search(line)
            and len(line.split()) <= 30
        ):
            found["title"] = line
            continue
        if line == found.get("title") or line in seen:
            continue  # repeated headline or block
        body.append(line)
        seen.add(line)
    return body, found


def title_from_lead(text: str, max_words: int = 14) -> str:
    """A title for an article that names none: its first sentence, shortened to a headline."""
    from .chunking import split_sentences

    # a line break always ends a sentence, so the first sentence lies in the first non-blank line:
    # split that line only, not the whole article
    lead = text.lstrip().partition("\n")[0]
    sentences = split_sentences(lead)
    first = lead[sentences[0][0] : sentences[0][1]] if sentences else text
    words = first.strip().rstrip(".!?…").split()
    title = " ".join(words[:max_words])
    return title + ("…" if len(words) > max_words else "")


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Date):
        return value.isoformat()
    return str(value).strip()


def parse_article(raw: str, path: Path) -> Article:
    """Turn one file's text into a clean Article. Raises ValueError when nothing is left."""
    front, body_text = split_front_matter(raw)
    suffix = path.suffix.lower()
    page_meta: dict[str, str] = {}
    if suffix in (".html", ".htm"):
        lines, page_meta = _html_blocks(body_text)
    else:
        lines = body_text.splitlines()
        if suffix in (".md", ".markdown"):
            lines = [re.sub(r"^\s{0,3}#{1,6}\s+", "", line) for line in lines]
    known_title = _as_text(front.get("title")) or page_meta.get("title", "")
    paragraphs, found = clean_lines(lines, find_title=not known_title)
    if known_title and paragraphs and paragraphs[0] == known_title:
        paragraphs = paragraphs[1:]  # the page repeats its headline (an HTML h1): metadata, not body
    if not paragraphs:
        raise ValueError("no article text left after cleaning")
    text = "\n\n".join(paragraphs)
    title = known_title or found.get("title") or title_from_lead(text)
    date = _as_text(front.get("date")) or parse_date(page_meta.get("date", "")) or found.get("date", "")
    if date and not _ISO_DATE.fullmatch(date):
        date = parse_date(date) or date
    language = _as_text(front.get("language")) or page_meta.get("language", "")
    if language not in ("it", "en"):
        language = detect_language(text[:_LANGUAGE_SAMPLE])
    article_id = _as_text(front.get("id")) or re.sub(r"[^\w.-]+", "-", path.stem).strip("-") or "article"
    author = _as_text(front.get("author")) or page_meta.get("author") or found.get("author", "")
    publication = _as_text(front.get("publication")) or page_meta.get("publication") or "unknown"
    digest = hashlib.sha256("\x1f".join([title, date, language, publication, text]).encode()).hexdigest()
    return Article(
        id=article_id,
        title=title,
        date=date,
        language=language,
        text=text,
        author=author,
        publication=publication,
        source_path=str(path),
        content_hash=digest,
    )


def read_article(path: Path) -> Article:
    """Read and parse one file; every failure is a ValueError that says what is wrong."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ValueError(f"cannot be read ({e.strerror or e})") from e
    if not data.strip():
        raise ValueError("is empty")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # a UTF-16 byte-order mark: text, in another encoding
        try:
            raw = data.decode("utf-16")
        except UnicodeDecodeError as e:
            raise ValueError("is not valid UTF-16 text (it starts with a UTF-16 mark)") from e
        return _parse(raw, path)
    if b"\x00" in data[:8192]:
        raise ValueError("is a binary file, not text (or text in an encoding other than UTF-8 and UTF-16)")
    try:
        raw = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError("is not UTF-8 text") from e
    return _parse(raw, path)


def _parse(raw: str, path: Path) -> Article:
    try:
        return parse_article(raw, path)
    except yaml.YAMLError as e:
        raise ValueError(f"has broken YAML front matter ({e.__class__.__name__})") from e


def article_files(folders: Iterable[Path], unreadable: list[Path] | None = None) -> list[Path]:
    """Article files under the given folders, sorted; READMEs and hidden files are not articles.

    Subfolders that cannot be listed are appended to `unreadable` (never silently passed over).
    """
    files: list[Path] = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            from .errors import CorpusError

            raise CorpusError(f"Corpus folder {folder} does not exist. Create it or pass --corpus DIR.")

        def failed(error: OSError) -> None:
            if unreadable is not None and error.filename:
                unreadable.append(Path(error.filename))

        for root, dirs, names in os.walk(folder, onerror=failed):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in names:
                path = Path(root) / name
                if (
                    path.suffix.lower() in SUPPORTED_SUFFIXES
                    and not name.startswith((".", "_"))
                    and not path.stem.upper().startswith("README")
                    and path.is_file()
                ):
                    files.append(path)
    return sorted(files)


def origin_of(path: Path, folders: Iterable[Path]) -> str:
    """Which machine and corpus folder an article came from: on a shared server, an ingest removes only
    articles of its own origins.

    Example: corpus/ on host "news1" -> "news1:/srv/app/corpus"
    """
    resolved = path.resolve()
    for folder in folders:
        root = Path(folder).resolve()
        if resolved.is_relative_to(root):
            return f"{socket.gethostname()}:{root}"
    return f"{socket.gethostname()}:{resolved.parent}"


def load_corpus(folders: Iterable[Path]) -> LoadResult:
    """Load every article under the folders. Bad files are skipped, each with a message naming it and why."""
    folders = [Path(f) for f in folders]
    articles: list[Article] = []
    skipped: list[str] = []
    unreadable: list[Path] = []
    seen: dict[str, str] = {}
    texts: dict[str, str] = {}
    files = article_files(folders, unreadable)
    for folder in unreadable:
        message = f"{folder}: folder cannot be read (permissions?); its articles stay indexed as they were"
        log.debug(message)
        skipped.append(message)
    for path in files:
        try:
            article = read_article(path)
        except ValueError as e:
            message = f"{path}: {e}; skipped"
            log.debug(message)
            skipped.append(message)
            continue
        if article.id in seen:
            message = f"{path}: same article id '{article.id}' as {seen[article.id]}; skipped (rename one)"
            log.debug(message)
            skipped.append(message)
            continue
        if article.content_hash in texts:
            message = f"{path}: same text as {texts[article.content_hash]}; skipped (remove one of the two)"
            log.debug(message)
            skipped.append(message)
            continue
        seen[article.id] = str(path)
        texts[article.content_hash] = str(path)
        articles.append(replace(article, origin=origin_of(path, folders)))
    return LoadResult(articles=articles, skipped=skipped, unreadable=unreadable)


def to_markdown(article: Article) -> str:
    """The article as Markdown with YAML front matter: the form articles are kept in `corpus/`."""
    front = {
        "title": article.title,
        "date": article.date,
        "author": article.author or None,
        "publication": article.publication,
        "language": article.language,
    }
    header = yaml.safe_dump({k: v for k, v in front.items() if v}, allow_unicode=True, sort_keys=False)
    return f"---\n{header}---\n\n{article.text}\n"
