"""The voice page's notebook panel in real headless Chromium (Debian's, driven by Playwright):
it lists the open items and ideas of the store, ticking an item marks it done, a task that
notes an item makes it appear without a reload, the search filters, and a phone can use it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from company.notebook import Notebook
from tests.api_support import Served, api_config, live_server, script, wait_for, wait_status
from tests.fakes.ollama_server import FakeOllama
from tests.test_api_page import ARGS, CHROMIUM

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="Debian's chromium is not installed (scripts/setup.sh test installs it: "
    "apt-get install -y chromium)",
)]
PHONE = {"width": 390, "height": 844}
OPEN_ROWS = "#nb-items li"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium, shared by this module's tests (each opens its own page)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOllama]:
    """A fake Ollama scripted for the analyst-only SOP (its analysis notes 'Multiply 6 by 7')."""
    server = script(FakeOllama().start())
    yield server
    server.stop()


@pytest.fixture
def served(tmp_path: Path, fake: FakeOllama) -> Iterator[Served]:
    """The server, with an empty notebook."""
    with live_server(api_config(tmp_path, fake)) as server:
        yield server


@pytest.fixture
def book(served: Served) -> Notebook:
    """The server's notebook."""
    return Notebook(served.app.state.api.company.store)


@pytest.fixture
def phone(browser: Any, served: Served) -> Iterator[tuple[Any, list[str]]]:
    """A page on a touch phone (390x844) and its script errors; it closes before the server
    stops (the page's notebook stream would hold the server's shutdown)."""
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page, errors
    finally:
        context.close()


def rows(page: Any, selector: str = OPEN_ROWS) -> list[str]:
    """The texts shown in a list of the panel (without the priority and tags)."""
    return [t.strip() for t in page.locator(f"{selector} .text").all_inner_texts()]


def seed(book: Notebook) -> dict[str, int]:
    """Two open items, a done one, a kept idea and a dropped one; their ids."""
    ids = {
        "invoice": book.add("item", "Send the invoice to Bob", priority="high",
                            tags=["billing"])[0].id,
        "html": book.add("item", "Fix the <b>bold</b> header")[0].id,
        "milk": book.add("item", "Buy milk")[0].id,
        "pdf": book.add("idea", "Bob prefers PDF invoices", priority="low")[0].id,
        "garden": book.add("idea", "A herb garden on the balcony")[0].id,
    }
    book.mark_done(ids["milk"])
    book.drop(ids["garden"])
    return ids


def test_the_panel_lists_open_items_and_ideas_and_ticking_marks_done(
        phone: Any, served: Served, book: Notebook, tmp_path: Path) -> None:
    ids = seed(book)
    page, errors = phone
    page.goto(served.url + "/")
    page.wait_for_selector(f"{OPEN_ROWS} >> text=Send the invoice to Bob", timeout=10_000)
    assert rows(page) == ["Fix the <b>bold</b> header", "Send the invoice to Bob #billing"]
    assert page.locator("#nb-items b").count() == 0  # shown as text, never parsed as HTML
    assert rows(page, "#nb-ideas li") == ["Bob prefers PDF invoices"]
    assert page.text_content("#nb-items-count") == "(2)"
    # the checkbox's accessible name is the item (its label)
    box = page.get_by_role("checkbox", name="Send the invoice to Bob")
    # click, not check(): check() re-reads the box after its click, and the done row may
    # already have left the list (the page refreshes as soon as the PATCH returns)
    box.click()
    wait_for(lambda: book.get(ids["invoice"]).status == "done", 10, "the item to be done")
    page.wait_for_function("document.querySelectorAll('#nb-items li').length === 1",
                           timeout=10_000)
    assert "Done: Send the invoice to Bob" in (page.text_content("#nb-status") or "")
    page.click("#nb-undo")
    wait_for(lambda: book.get(ids["invoice"]).status == "open", 10, "the item to reopen")
    page.wait_for_selector(f"{OPEN_ROWS} >> text=Send the invoice to Bob", timeout=10_000)
    page.screenshot(path=str(tmp_path / "notebook-phone.png"), full_page=True)
    assert (tmp_path / "notebook-phone.png").stat().st_size > 1000
    assert errors == []


def test_a_refused_tick_is_undone_and_said(phone: Any, served: Served, book: Notebook) -> None:
    ids = seed(book)
    page, errors = phone
    page.goto(served.url + "/")
    page.wait_for_selector(f"{OPEN_ROWS} >> text=Send the invoice to Bob", timeout=10_000)

    def refuse(route: Any) -> None:
        if route.request.method != "PATCH":
            route.continue_()
            return
        route.fulfill(status=409, content_type="application/json",
                      body='{"detail": "item was dropped: reopen it first"}')

    page.route("**/v1/action-items/*", refuse)
    box = page.get_by_role("checkbox", name="Send the invoice to Bob")
    box.click()
    page.wait_for_selector("#nb-status.error", timeout=10_000)
    assert page.text_content("#nb-status") == "409: item was dropped: reopen it first"
    assert not box.is_checked()
    assert book.get(ids["invoice"]).status == "open"
    assert errors == []


def test_a_task_that_notes_an_item_shows_it_without_a_reload(
        phone: Any, served: Served, book: Notebook) -> None:
    book.add("item", "Water the plants")
    page, errors = phone
    page.goto(served.url + "/")
    page.wait_for_selector(f"{OPEN_ROWS} >> text=Water the plants", timeout=10_000)
    page.evaluate("window.loadedOnce = true")  # gone if the page reloads
    page.eval_on_selector(OPEN_ROWS, "li => { li.marked = true; }")  # gone if rebuilt
    with served.client() as client:  # another client (the CLI, a phone) sends the request
        task_id = client.post("/v1/tasks", json={"request": "Multiply 6 by 7"}).json()[
            "task_id"]
        assert wait_status(client, task_id)["status"] == "done"
    page.wait_for_selector(f"{OPEN_ROWS} >> text=Multiply 6 by 7", timeout=15_000)
    assert rows(page) == ["Multiply 6 by 7", "Water the plants"]
    assert page.evaluate("window.loadedOnce") is True
    # the unchanged row is the same element, not rebuilt (no jump under a finger)
    assert page.eval_on_selector_all(OPEN_ROWS, "rows => rows.map((li) => !!li.marked)") == [
        False, True]
    # a request sent from the page itself: the work log says what was noted
    page.fill("#text", "Please also count the words of 'the quick brown fox'")
    page.click("#submit")
    page.wait_for_selector("#messages li >> text=Noted 1 action item.", timeout=20_000)
    page.wait_for_selector(f"{OPEN_ROWS} >> text=Count the words", timeout=10_000)
    assert len(rows(page)) == 3
    assert errors == []


def test_search_filters_both_lists(phone: Any, served: Served, book: Notebook) -> None:
    seed(book)
    page, errors = phone
    page.goto(served.url + "/")
    page.wait_for_selector(f"{OPEN_ROWS} >> text=Send the invoice to Bob", timeout=10_000)
    page.fill("#nb-search", "bob")
    page.wait_for_function("document.querySelectorAll('#nb-items li').length === 1",
                           timeout=10_000)
    assert rows(page) == ["Send the invoice to Bob #billing"]
    assert rows(page, "#nb-ideas li") == ["Bob prefers PDF invoices"]
    page.fill("#nb-search", "header")
    page.wait_for_selector("#nb-ideas-empty:not([hidden])", timeout=10_000)
    assert rows(page) == ["Fix the <b>bold</b> header"]
    assert page.text_content("#nb-ideas-empty") == "Nothing matches."
    page.fill("#nb-search", "")
    page.wait_for_function("document.querySelectorAll('#nb-items li').length === 2",
                           timeout=10_000)
    assert errors == []


def test_a_phone_can_use_the_panel(phone: Any, served: Served, book: Notebook) -> None:
    seed(book)
    page, errors = phone
    page.goto(served.url + "/")
    page.wait_for_selector(f"{OPEN_ROWS} >> text=Send the invoice to Bob", timeout=10_000)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    panel = page.locator("#notebook")
    panel.scroll_into_view_if_needed()
    assert panel.is_visible()
    box = panel.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    for row in page.locator("#nb-items .row").all():  # the whole row is the touch target
        size = row.bounding_box()
        assert size is not None and size["height"] >= 44 and size["width"] >= 300
    search = page.get_by_label("Search the notebook")
    assert (search.bounding_box() or {"height": 0})["height"] >= 44
    assert page.get_by_role("region", name="Notebook").count() == 1
    assert page.get_by_role("list", name="Open items").count() == 1
    # a tap on the row's text (not the small box itself) ticks it
    page.tap("#nb-items li:has-text('Fix the') .text")
    page.wait_for_function("document.querySelectorAll('#nb-items li').length === 1",
                           timeout=10_000)
    assert errors == []
