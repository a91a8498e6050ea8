"""The emulator's web page in a real headless Chromium: it loads cleanly, shows what Python
does, lets a person play the other side against a real bot, and never runs message text."""

from __future__ import annotations

import os
import struct
import sys
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support.tools import in_ci

from spectrum_sync import Message
from spectrum_sync.emulator import Emulator

try:
    import selenium  # noqa: F401
except ImportError:  # outside CI a missing test extra skips; in CI it must fail
    if in_ci():
        raise
    pytest.skip("selenium not installed (pip install -e '.[test]')", allow_module_level=True)
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

LINE = "+15550000001"
ALICE = "+15551111111"
BOB = "+15552222222"
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "emulator-ui.png"

Driver = Any  # selenium's WebDriver


# -- helpers --------------------------------------------------------------------------------


def open_page(browser: Driver, emu: Emulator) -> None:
    """Load the page fresh (dropping the console lines of earlier pages) and wait until its
    event stream is connected."""
    browser.get("about:blank")
    browser.get_log("browser")
    browser.get(emu.ui_url)
    WebDriverWait(browser, 10).until(
        lambda d: d.find_element(By.ID, "live").get_attribute("class") == "live on")


def until(browser: Driver, check: Callable[[Driver], Any], timeout: float = 5.0) -> Any:
    """Wait for ``check`` to hold; the page redraws a conversation when it changes, so an
    element found a moment ago may be gone: that is retried, not a failure."""
    return WebDriverWait(browser, timeout, poll_frequency=0.05,
                         ignored_exceptions=(StaleElementReferenceException,)).until(check)


def click(browser: Driver, css: str) -> None:
    """Click the element ``css`` selects, again if a redraw replaced it meanwhile."""

    def clicked(d: Driver) -> bool:
        d.find_element(By.CSS_SELECTOR, css).click()
        return True

    until(browser, clicked)


def open_chat(browser: Driver, chat_guid: str) -> None:
    click(browser, f'[data-chat="{chat_guid}"]')
    until(browser, lambda d: chat_guid in d.find_element(By.ID, "chat-participants").text)


def bubble(browser: Driver, guid: str) -> Any:
    return browser.find_element(By.CSS_SELECTOR, f'#timeline .msg[data-guid="{guid}"]')


def texts(browser: Driver, side: str) -> list[str]:
    return [e.text for e in browser.find_elements(
        By.CSS_SELECTOR, f"#timeline .msg.{side} .bubble .text")]


def severe_console_lines(browser: Driver) -> list[dict[str, Any]]:
    return [line for line in browser.get_log("browser") if line["level"] == "SEVERE"]


@dataclass
class BotLog:
    """What the echo bot received: the messages, and the bytes of their first files."""

    messages: list[Message] = field(default_factory=list)
    files: list[bytes] = field(default_factory=list)


@contextmanager
def echo_bot(emu: Emulator) -> Iterator[BotLog]:
    """A bot written as users write one: ``for msg in client.messages()`` in a thread,
    answering every text with a threaded ``echo: <text>``."""
    client = emu.client()
    log = BotLog()

    def run() -> None:
        for msg in client.messages():
            if msg.attachments:
                log.files.append(msg.attachments[0].read())
            log.messages.append(msg)
            if msg.text:
                msg.reply(f"echo: {msg.text}")

    thread = threading.Thread(target=run, name="echo-bot", daemon=True)
    thread.start()
    try:
        assert emu.wait_for_subscribers(1, timeout=10)
        yield log
    finally:
        client.close()
        thread.join(10)


def png(width: int = 96, height: int = 64) -> bytes:
    """A small PNG (a colour gradient), built with the standard library."""
    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 255 // width, y * 255 // height, 200))
                           for x in range(width))
        for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


# -- tests ----------------------------------------------------------------------------------


def test_page_loads_without_console_errors(browser: Driver, make_emulator: Any) -> None:
    emu = make_emulator(lines=[LINE])
    emu.simulate_inbound(ALICE, "hello")
    open_page(browser, emu)
    open_chat(browser, f"any;-;{ALICE}")
    until(browser, lambda d: texts(d, "from-them") == ["hello"])
    assert browser.title == "Spectrum emulator"
    assert severe_console_lines(browser) == []


def test_echo_bot_answers_what_is_typed_on_the_page(browser: Driver,
                                                    make_emulator: Any) -> None:
    emu = make_emulator(lines=[LINE])
    with echo_bot(emu) as bot:
        open_page(browser, emu)
        # A new conversation, started from the sidebar.
        browser.find_element(By.ID, "new-from").send_keys("+1 (555) 111-1111")
        browser.find_element(By.ID, "new-text").send_keys("ping from the page")
        browser.find_element(By.CSS_SELECTOR, "#new-chat button[type=submit]").click()
        until(browser, lambda d: "echo: ping from the page" in texts(d, "from-me"), timeout=2)
        # Then typed in the conversation's own composer.
        browser.find_element(By.ID, "text").send_keys("second one")
        browser.find_element(By.ID, "send").click()
        until(browser, lambda d: "echo: second one" in texts(d, "from-me"), timeout=2)
        assert [m.text for m in bot.messages] == ["ping from the page", "second one"]
        assert {m.sender.address for m in bot.messages} == {ALICE}
        # The answers are threaded replies: the page quotes what they answer.
        quotes = [e.text for e in browser.find_elements(By.CSS_SELECTOR,
                                                        "#timeline .msg.from-me .reply-quote")]
        assert any("second one" in q for q in quotes)


def test_a_tapback_and_an_edit_made_in_python_show_up(browser: Driver,
                                                      make_emulator: Any) -> None:
    emu = make_emulator(lines=[LINE])
    client = emu.client()
    try:
        dm = client.space.create(client.user(ALICE))
        sent = dm.send("Your order has shiped")
        open_page(browser, emu)
        open_chat(browser, f"any;-;{ALICE}")
        until(browser, lambda d: texts(d, "from-me") == ["Your order has shiped"])

        sent.edit("Your order has shipped")
        emu.simulate_reaction(ALICE, sent.guid, "❤️")
        until(browser, lambda d: texts(d, "from-me") == ["Your order has shipped"])
        until(browser, lambda d: "Edited" in bubble(d, sent.guid).find_element(
            By.CSS_SELECTOR, ".meta").text)
        until(browser, lambda d: [e.text for e in bubble(d, sent.guid).find_elements(
            By.CSS_SELECTOR, ".reactions span")] == ["❤️"])

        inbound = emu.simulate_inbound(ALICE, "thanks!")
        emu.simulate_edit(inbound, "thanks a lot!")
        until(browser, lambda d: texts(d, "from-them") == ["thanks a lot!"])
        emu.simulate_read(sent.guid)
        until(browser, lambda d: "Read" in bubble(d, sent.guid).text)
    finally:
        client.close()


def test_an_attachment_sent_from_the_page_reaches_the_bot_unchanged(
        browser: Driver, make_emulator: Any, tmp_path: Path) -> None:
    emu = make_emulator(lines=[LINE])
    emu.simulate_inbound(ALICE, "here comes a file")
    data = os.urandom(40_000) + bytes(range(256))
    path = tmp_path / "report.bin"
    path.write_bytes(data)
    with echo_bot(emu) as bot:
        open_page(browser, emu)
        open_chat(browser, f"any;-;{ALICE}")
        browser.find_element(By.ID, "file").send_keys(str(path))
        browser.find_element(By.ID, "send").click()
        until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#timeline a.file"))
        until(browser, lambda d: bot.files, timeout=5)
    assert bot.files == [data]
    [msg] = bot.messages
    assert msg.attachments[0].file_name == "report.bin"
    link = browser.find_element(By.CSS_SELECTOR, "#timeline a.file")
    assert link.get_attribute("download") == "report.bin"


def test_message_text_is_shown_never_run(browser: Driver, make_emulator: Any) -> None:
    emu = make_emulator(lines=[LINE])
    hostile = ('<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
               '<b>bold?</b>')
    guid = emu.simulate_inbound(ALICE, hostile)
    emu.simulate_group_change("any;+;chat42", "rename", actor=BOB, name="<i>team</i>")
    open_page(browser, emu)
    open_chat(browser, f"any;-;{ALICE}")
    until(browser, lambda d: texts(d, "from-them") == [hostile])
    text = bubble(browser, guid).find_element(By.CSS_SELECTOR, ".text")
    assert text.find_elements(By.CSS_SELECTOR, "script, img, b") == []
    assert browser.execute_script("return window.__pwned") is None
    open_chat(browser, "any;+;chat42")
    until(browser, lambda d: "“<i>team</i>”" in d.find_element(By.ID, "timeline").text)
    assert browser.find_elements(By.CSS_SELECTOR, "#timeline i, #sidebar i") == []
    assert severe_console_lines(browser) == []


def test_the_page_reconnects_after_an_emulator_restart(browser: Driver,
                                                       make_emulator: Any) -> None:
    emu = make_emulator(lines=[LINE])
    emu.simulate_inbound(ALICE, "before")
    open_page(browser, emu)
    open_chat(browser, f"any;-;{ALICE}")
    until(browser, lambda d: texts(d, "from-them") == ["before"])
    emu.restart()
    emu.simulate_inbound(ALICE, "after")
    until(browser, lambda d: texts(d, "from-them") == ["before", "after"], timeout=10)
    until(browser, lambda d: d.find_element(By.ID, "live").text == "live")


def test_the_other_side_acts_from_the_page(browser: Driver, make_emulator: Any) -> None:
    emu = make_emulator(lines=[LINE])
    client = emu.client()
    try:
        dm = client.space.create(client.user(ALICE))
        ours = dm.send("Lunch?")
        theirs = emu.simulate_inbound(ALICE, "maybe")
        poll = emu.simulate_poll(BOB, "any;+;lunch", "Where?", ["Pizza", "Sushi"])
        open_page(browser, emu)
        open_chat(browser, f"any;-;{ALICE}")
        until(browser, lambda d: texts(d, "from-them") == ["maybe"])

        click(browser, f'.msg[data-guid="{ours.guid}"] [data-react="👍"]')
        until(browser, lambda d: [e.text for e in bubble(d, ours.guid).find_elements(
            By.CSS_SELECTOR, ".reactions span")] == ["👍"])
        browser.find_element(By.ID, "mark-read").click()
        until(browser, lambda d: "Read" in bubble(d, ours.guid).text)
        click(browser, f'.msg[data-guid="{theirs}"] [data-action="edit"]')
        field = browser.find_element(By.ID, "text")
        field.clear()
        field.send_keys("yes!")
        browser.find_element(By.ID, "send").click()
        until(browser, lambda d: texts(d, "from-them") == ["yes!"])
        browser.find_element(By.ID, "typing").click()
        until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '[data-typing="them"]'))
        browser.find_element(By.ID, "typing").click()
        until(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, '[data-typing="them"]'))
        click(browser, f'.msg[data-guid="{theirs}"] [data-action="unsend"]')
        until(browser, lambda d: "unsent a message" in bubble(d, theirs).text)

        open_chat(browser, "any;+;lunch")
        browser.find_element(By.ID, "from").clear()
        browser.find_element(By.ID, "from").send_keys(ALICE)
        click(browser, f'[data-poll="{poll}"] button')
        until(browser, lambda d: ALICE in d.find_element(By.CSS_SELECTOR,
                                                         f'[data-poll="{poll}"]').text)
        browser.find_element(By.CSS_SELECTOR, '[data-fault="cut-streams"]').click()
        browser.find_element(By.CSS_SELECTOR, '[data-fault="fail-next"]').click()
        until(browser, lambda d: "done" in d.find_element(By.ID, "toast").text)
    finally:
        client.close()
    info = emu.poll_info(poll)
    assert [v.participant.address for v in info.votes] == [ALICE]


def test_screenshot(browser: Driver, make_emulator: Any, artifacts: Path,
                    capsys: pytest.CaptureFixture[str]) -> None:
    """A conversation with most of what the page shows, saved as a test artifact (and as
    docs/emulator-ui.png with ``SPECTRUM_UPDATE_DOCS_SCREENSHOT=1``)."""
    emu = make_emulator(lines=[LINE, "+15550000002"])
    client = emu.client()
    try:
        from spectrum_sync import TextFormat

        dm = client.space.create(client.user(ALICE), phone=LINE)
        hello = dm.send("Your order #1042 has shipped! Track it at example.com/t/1042",
                        effect="confetti",
                        formatting=[TextFormat.find("Your order #1042 has shipped!",
                                                    "shipped!")])
        question = emu.simulate_inbound(ALICE, "Great, when will it arrive?", line=LINE)
        emu.simulate_reaction(ALICE, hello.guid, "❤️", line=LINE)
        answer = dm.send("Tomorrow before noon", reply_to=question)
        answer.edit("Tomorrow before 11am")
        answer.react("👍")
        emu.simulate_read(answer.guid, line=LINE)
        emu.simulate_inbound(ALICE, "", attachment=("door.png", png()), line=LINE)
        emu.simulate_inbound(ALICE, "The <script> tag stays text", line=LINE,
                             formatting=[("italic", 4, 8)])
        emu.simulate_typing(ALICE, line=LINE)
        emu.simulate_group_change("any;+;team", "rename", actor=BOB, name="Ops team",
                                  line=LINE)
        emu.simulate_poll(BOB, "any;+;team", "Deploy today?", ["Yes", "No"], line=LINE)
        emu.simulate_inbound(BOB, "hi from the other line", line="+15550000002")
        open_page(browser, emu)
        open_chat(browser, f"any;-;{ALICE}")
        until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '[data-typing="them"]'))
        until(browser, lambda d: d.execute_script(
            "return [...document.images].every(i => i.complete && i.naturalWidth > 0)"))
        path = artifacts / "emulator-ui.png"
        assert browser.save_screenshot(str(path))
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with capsys.disabled():
            sys.stdout.write(f"\nscreenshot of the emulator's page: {path}\n")
        if os.environ.get("SPECTRUM_UPDATE_DOCS_SCREENSHOT"):
            DOCS_SCREENSHOT.write_bytes(path.read_bytes())
        assert severe_console_lines(browser) == []
    finally:
        client.close()
