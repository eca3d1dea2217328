"""The chat as a reader uses it: a real browser (Debian's chromium, driven by Playwright) against the app
served with the real embedder and the real local LLM.

The page keeps connections open, so the test never waits for network idle: it waits for the status
line under the chat ("✓ Risposta n · …"), which appears only when answer n is complete.
Set UI_SCREENSHOT=ui/screenshot.png to also save the final screenshot there.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import pytest

from rag.ingest import ingest
from rag.service import Service, build_service
from rag.settings import Settings
from tests.conftest import SEED_CORPUS, free_port
from ui.app import build_app, launch_options

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
ANSWER_TIMEOUT_MS = 240_000

ARTICLE = """---
title: La biblioteca civica di Douai <b>riapre</b>
date: 2026-03-01
publication: Fixture di test
---

La biblioteca civica di Douai riaprirà il 3 marzo 2027, dopo un restauro costato 12 milioni di euro.

Nel comunicato del comune compare il testo <img src=x onerror="window.__pwned = 1"> che deve restare testo.
"""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Service]]:
    if not CHROMIUM.is_file():
        pytest.fail("Debian's chromium is missing: `make test` installs it (apt-get install chromium chromium-driver)")
    corpus = tmp_path / "corpus"
    shutil.copytree(SEED_CORPUS, corpus)
    settings = Settings(corpus=(corpus,), index=tmp_path / "index", host="127.0.0.1", port=free_port())
    service = build_service(settings)
    ingest(settings, service.store)
    service.warm_up()
    demo = build_app(settings, service)
    demo.launch(**launch_options(settings), prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{settings.port}/", service
    finally:
        demo.close()


@pytest.fixture
def app_url(served: tuple[str, Service]) -> str:
    return served[0]


def ask(page: Page, question: str, number: int) -> Locator:
    """Type a question, send it, wait until answer `number` is complete; the last bot message."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    box = page.locator("#question textarea")
    asked = page.locator("#chat [data-testid='user']").filter(has_text=question)
    before = asked.count()
    for _attempt in range(3):  # a key press can beat the page's first sync of the box: a blank is ignored
        box.fill(question)
        box.press("Enter")
        try:
            asked.nth(before).wait_for(timeout=15_000)
            break
        except PlaywrightTimeout:
            continue
    status = page.locator("#answer-status")
    status.get_by_text(re.compile(rf"✓ (Risposta|Answer) {number} ·")).wait_for(timeout=ANSWER_TIMEOUT_MS)
    return page.locator("#chat .message.bot, #chat [data-testid='bot']").last


def test_a_reader_asks_follows_up_uploads_and_asks_again(app_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        page.on("request", lambda r: outside.append(r.url) if _leaves_machine(r.url) else None)
        page.goto(app_url)
        try:
            _journey(page, tmp_path)
        except Exception:
            page.screenshot(path=str(tmp_path / "failed.png"), full_page=True)
            (tmp_path / "failed.html").write_text(page.content(), encoding="utf-8")
            print(f"the page at the failure: {tmp_path / 'failed.png'} and failed.html")
            raise
        target = os.environ.get("UI_SCREENSHOT")
        if target:
            shutil.copyfile(tmp_path / "chat.png", target)
            shutil.copyfile(tmp_path / "articles.png", Path(target).with_name("articles.png"))
        browser.close()
    assert outside == [], f"the page fetched from outside this machine: {outside}"


def _journey(page: Page, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    # Italian: the answer cites a passage, the sources panel highlights the supporting sentence
    bot = ask(page, "Quali nuovi modelli lancerà Ford grazie all'accordo con Renault?", 1)
    expect(bot).to_contain_text(re.compile(r"\[\d\]"))
    expect(bot).to_contain_text("Fonti")
    expect(bot.locator("mark").first).to_be_visible()
    expect(bot.locator("details summary").first).to_contain_text("Altri passaggi recuperati")

    # a follow-up is read in the light of the first question
    bot = ask(page, "E quando arriveranno nei concessionari?", 2)
    expect(bot).to_contain_text("2028")

    # English, over Italian articles
    bot = ask(page, "How much money was invested to convert the Douai plant?", 3)
    expect(bot).to_contain_text("550")
    expect(bot).to_contain_text("Sources")
    expect(bot.locator("mark").first).to_contain_text("550")
    page.screenshot(path=str(tmp_path / "chat.png"), full_page=True)
    bot.locator("details summary").first.click()  # unfold the other passages, with their scores
    expect(bot.locator("details").first).to_contain_text("score")

    # upload an article, see it listed, ask about it (after starting over)
    page.get_by_role("tab", name="Articoli / Articles").click()
    upload = tmp_path / "biblioteca.md"
    upload.write_text(ARTICLE, encoding="utf-8")
    page.locator("#upload input[type=file]").set_input_files(str(upload))
    expect(page.locator("#articles-status")).to_contain_text("✓", timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator("#articles-table")).to_contain_text("La biblioteca civica di Douai <b>riapre</b>")
    page.screenshot(path=str(tmp_path / "articles.png"), full_page=True)
    page.get_by_role("tab", name="Chat").click()
    page.locator("#start-over").click()
    bot = ask(page, "Quando riaprirà la biblioteca civica di Douai?", 1)
    expect(bot).to_contain_text("2027")
    expect(bot).to_contain_text('<img src=x onerror="window.__pwned = 1">')  # shown as text ...
    assert page.evaluate("window.__pwned") is None  # ... never run


def test_a_model_crash_mid_answer_is_a_message_and_the_next_question_is_answered(
    served: tuple[str, Service], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, service = served
    worker = service.pipeline.chat_model.engine  # type: ignore[attr-defined]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(url)
        try:
            box = page.locator("#question textarea")
            box.fill("Quando arriveranno i nuovi modelli elettrici Ford?")
            box.press("Enter")
            page.locator("#answer-status").get_by_text("… / …").wait_for(timeout=30_000)
            pid = worker.pid
            time.sleep(1.0)  # the model is reading the prompt
            os.kill(pid, signal.SIGSEGV)  # the native library dies mid-answer
            status = page.locator("#answer-status")
            status.get_by_text("⚠️ 1").wait_for(timeout=60_000)
            bot = page.locator("#chat .message.bot, #chat [data-testid='bot']").last
            expect(bot).to_contain_text("SIGSEGV")
            expect(bot).to_contain_text("ask again")
            bot = ask(page, "How much money was invested to convert the Douai plant?", 2)
            expect(bot).to_contain_text("550")
            assert worker.pid != pid
        except Exception:
            page.screenshot(path=str(tmp_path / "failed.png"), full_page=True)
            print(f"the page at the failure: {tmp_path / 'failed.png'}")
            raise
        finally:
            browser.close()


def _leaves_machine(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme in ("http", "https", "ws", "wss") and parsed.hostname not in ("127.0.0.1", "localhost")
