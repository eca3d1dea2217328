"""Sentence-aware chunking for Italian and English with stable, content-derived chunk ids.

The sentence splitter is rule-based (no downloads): a boundary is terminal punctuation,
optional closing quotes, whitespace, then a capital, digit or opening quote; known
abbreviations, initials, numbers ("1.500", "3.5") and text inside «…»/“…” never split.
Each candidate boundary reads only the words beside it, so splitting is linear in the text's length.
"""

from __future__ import annotations

import hashlib
import re

from .types import Article, Chunk, Hit

# Titles and abbreviations that never end a sentence.
_ALWAYS_CONTINUE = frozenset(
    """sig sigg sig.ra sig.na dott dott.ssa dr prof prof.ssa ing avv arch geom sen mons mr mrs ms mx jr sr
    rev hon vs es cfr ecc.mo""".split()
)
# Abbreviations that continue only before a number: "n. 5", "p. 12", "9 dic. 2025", "art. 3".
_BEFORE_NUMBER = frozenset(
    """no nr n pag pp p art fig figg vol cap tel ca approx jan feb mar apr jun jul aug sep sept oct nov dec
    gen mag giu lug ago set sett ott dic""".split()
)
# May end a sentence: only when the next word is a typical sentence opener.
_MAY_END = frozenset("""ecc etc ltd inc corp co spa srl s.p.a s.r.l u.s u.k u.s.a e.g i.e a.c d.c""".split())
_OPENERS = frozenset(
    """il lo la i gli le un una uno l questo questa questi queste quel quella in a per con da di dal nel ma
    e poi non si ci è sono ha hanno anche secondo inoltre intanto oggi ieri domani tuttavia the a an
    this that these those it its in on at for but and then there they he she we i however today
    yesterday meanwhile also""".split()
)
_CLOSERS = "\"'”’»)]"
_OPENING = "\"'“‘«(["
_TERMINAL = re.compile(r"[.!?…]+")
# The word that ends where the window ends. The lookbehind lets a match start only at a word's
# first character, so a search costs the window's length instead of a retry from every character.
_WORD_BEFORE = re.compile(r"(?<![\w.'’-])([\w.'’-]+)$")
_WORD_AFTER = re.compile(r"\S+")
# Look-around windows start this wide and double only while a word fills them: the cost of a
# candidate boundary is the length of the words beside it, never of the text before or after it.
_WINDOW = 32
_PAIRS = {"«": "»", "“": "”"}
_CLOSING_PAIRS = frozenset(_PAIRS.values())
_QUOTE_EVENT = re.compile('[«“»”"\n]')  # the only characters that change the quoting depth


def _quote_depths(text: str) -> list[int]:
    """Depth of «…»/“…” quoting at each character (straight double quotes toggle).

    Only quotes and line breaks change the depth, so one regex scan finds them and the depth is
    written in runs between them rather than decided character by character in Python.
    """
    depths = [0] * (len(text) + 1)
    depth = 0
    straight_open = False
    run_start = 0  # depths[run_start:] take the current depth until the next quote or line break
    for event in _QUOTE_EVENT.finditer(text):
        i = event.start()
        if depth:
            depths[run_start : i + 1] = [depth] * (i + 1 - run_start)
        char = text[i]
        if char in _PAIRS:
            depth += 1
        elif char in _CLOSING_PAIRS:
            depth = max(0, depth - 1)
        elif char == '"' and not (i and text[i - 1].isdigit()):  # 27" is inches, not a quote
            straight_open = not straight_open
            depth += 1 if straight_open else -1
            depth = max(0, depth)
        elif char == "\n":
            depth, straight_open = 0, False  # quotes never span paragraphs
        run_start = i + 1
    if depth:
        depths[run_start:] = [depth] * (len(depths) - run_start)
    return depths


def _word_before(text: str, end: int) -> str:
    """The word (letters, digits, dots, apostrophes, hyphens) that ends at `end`, or "".

    Example: _word_before("Renault S.p.A. ha", 13) -> "S.p.A"
    """
    width = _WINDOW
    while True:
        start = max(0, end - width)
        match = _WORD_BEFORE.search(text[start:end])
        if not match or match.start() > 0 or start == 0:
            return match.group(1) if match else ""
        width *= 2  # the word fills the window and may begin before it


def _word_after(text: str, start: int) -> str:
    """The run of non-space characters that begins at `start`, or "" at a space or the end."""
    width = _WINDOW
    while True:
        match = _WORD_AFTER.match(text[start : start + width])
        if not match or match.end() < width or start + width >= len(text):
            return match.group() if match else ""
        width *= 2  # the word fills the window and may go on after it


def _is_boundary(text: str, dot_start: int, after: int, depth: int) -> bool:
    """Whether the punctuation at `dot_start`, followed by spaces up to `after`, ends a sentence."""
    if depth > 0:
        return False
    nxt = text[after] if after < len(text) else ""
    if not nxt or not (nxt.isupper() or nxt.isdigit() or nxt in _OPENING):
        return False
    if text[dot_start] != ".":
        return True  # ! ? … end sentences whatever precedes them
    before = _word_before(text, dot_start)
    if not before:
        return True
    word = re.split(r"['’]", before.casefold())[-1].strip("-")  # "l'art." -> "art"
    next_word = _word_after(text, after)
    opener = next_word.casefold().strip(_OPENING) in _OPENERS
    if re.fullmatch(r"[a-zà-ý]", word.rsplit("-", 1)[-1]):
        return opener  # an initial ("J. Farley", "Jean-D. Senard") unless a sentence opener follows ("Serie A. Il")
    if word in _ALWAYS_CONTINUE:
        return False
    if word in _BEFORE_NUMBER:
        return not next_word[:1].isdigit()
    if word in _MAY_END or re.fullmatch(r"([a-z]{1,2}\.)+[a-z]{1,2}", word):
        return opener
    return True


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans (start, end) in `text`, whitespace trimmed; line breaks always end a sentence.

    Example: "Costa 1.500 euro. Arriva nel 2028." -> [(0, 17), (18, 34)]
    """
    depths = _quote_depths(text)
    cuts: list[int] = []
    for match in _TERMINAL.finditer(text):
        end = match.end()
        while end < len(text) and text[end] in _CLOSERS:
            end += 1
        if end >= len(text) or not text[end].isspace():
            continue  # "1.500", "3.5", "S.p.A" inside a word
        after = end
        while after < len(text) and text[after] in " \t":
            after += 1
        if after < len(text) and text[after] == "\n":
            continue  # the line break below ends it anyway
        if _is_boundary(text, match.start(), after, depths[end]):
            cuts.append(end)
    for line_break in re.finditer(r"\n", text):
        cuts.append(line_break.start())
    spans: list[tuple[int, int]] = []
    start = 0
    for cut in sorted(set(cuts)) + [len(text)]:
        segment = text[start:cut]
        if segment.strip():
            left = start + (len(segment) - len(segment.lstrip()))
            right = start + len(segment.rstrip())
            spans.append((left, right))
        start = cut
    return spans


def chunk_id(article: Article, start: int, text: str) -> str:
    """Stable id from the passage, its position and its article's metadata.

    Unchanged text keeps its id (re-ingest is a no-op); a changed title or date gives new ids,
    so no chunk keeps stale metadata.
    """
    key = "\x1f".join([article.id, article.title, article.date, article.language, article.publication, article.author])
    return hashlib.sha256(f"{key}\x1f{start}\x1f{text}".encode()).hexdigest()[:24]


def _fit(spans: list[tuple[int, int]], text: str, size: int) -> list[tuple[int, int]]:
    """Cut any sentence longer than `size` at whitespace, so no chunk outgrows the embedder or the prompt."""
    out: list[tuple[int, int]] = []
    for start, end in spans:
        while end - start > size:
            cut = text.rfind(" ", start + 1, start + size)
            cut = cut if cut > start else start + size
            out.append((start, cut))
            start = cut + 1 if text[cut : cut + 1] == " " else cut
        out.append((start, end))
    return out


def chunk_article(article: Article, size: int = 700, overlap: int = 150) -> list[Chunk]:
    """Group whole sentences into chunks of about `size` characters.

    The next chunk repeats the last sentences of the previous one, up to `overlap` characters.
    Sentences are never cut, except one longer than `size`, which is cut at spaces.
    """
    if size <= 0 or overlap < 0 or overlap >= size:
        raise ValueError(f"chunk size must be > 0 and overlap in [0, size): got {size}, {overlap}")
    sentences = _fit(split_sentences(article.text), article.text, size)
    chunks: list[Chunk] = []
    i = 0
    while i < len(sentences):
        j = i
        while j + 1 < len(sentences) and sentences[j + 1][1] - sentences[i][0] <= size:
            j += 1
        start, end = sentences[i][0], sentences[j][1]
        text = article.text[start:end]
        chunks.append(
            Chunk(
                id=chunk_id(article, start, text),
                article_id=article.id,
                title=article.title,
                date=article.date,
                language=article.language,
                publication=article.publication,
                text=text,
                start=start,
                end=end,
                index=len(chunks),
                author=article.author,
                source=article.source_path,
                content_hash=article.content_hash,
                origin=article.origin,
            )
        )
        if j + 1 >= len(sentences):
            break
        # step back over whole sentences that fit in the overlap, but always move forward, and only
        # when the next sentence still fits after them (else the new chunk would repeat this one)
        nxt = j + 1
        while nxt - 1 > i and end - sentences[nxt - 1][0] <= overlap:
            nxt -= 1
        if sentences[j + 1][1] - sentences[nxt][0] > size:
            nxt = j + 1
        i = nxt
    return chunks


def sentence_spans(hit: Hit) -> list[tuple[int, int]]:
    """A hit's sentences in its chunk, as the retriever gave them (split here only for a hit built without)."""
    return list(hit.spans) if hit.spans else split_sentences(hit.chunk.text)
