"""The monitor's web page in a real headless Chromium, against a terminal trading on the built-in simulator.

Debian's chromium drives the page (no browser download is possible on the build machines);
Playwright's async API runs on the test's own loop, the loop the session and its monitor feed
run on, so orders placed from the scenario fill while the page watches.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from terminal.config import load_settings
from terminal.domain import Order, OrderSide, OrderStatus, OrderType
from terminal.monitor import MonitorServer, MonitorState, MonitorThread
from terminal.monitor.session_feed import SessionFeed
from terminal.sim.tws_server import SimServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TOKEN = "t" * 24
TIMEOUT_MS = 10_000
SCREENSHOTS = Path(__file__).resolve().parents[2] / "resources" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def chromium(loop):
    """A headless Chromium (Debian's) driven by Playwright's async API on the test's loop."""
    if not CHROMIUM.exists():
        reason = f"the browser test needs Debian's chromium at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide a browser: {reason}")
        pytest.skip(reason)
    from playwright.async_api import async_playwright

    playwright = loop.run_until_complete(async_playwright().start())
    browser = loop.run_until_complete(playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS))
    yield browser
    loop.run_until_complete(browser.close())
    loop.run_until_complete(playwright.stop())


@pytest.fixture
def terminals(loop, tmp_path):
    """``terminals(token="")``: a started session on the built-in simulator, fed to a monitor on a free port.

    The simulator runs in-process (the session's ``simulator_factory``), as the terminal runs it
    without ``--ib``, so the monitor reports the broker as "simulator"."""
    from terminal.broker.ib import IBBroker
    from terminal.services.session import TradingSession
    from terminal.store import Store

    opened: list[SimpleNamespace] = []

    def open_(token: str = "") -> SimpleNamespace:
        settings = load_settings(config_path=tmp_path / "none.toml", environ={"QT_NO_KEYRING": "1"}, overrides={
            "db_url": f"sqlite:///{tmp_path / f'terminal{len(opened)}.sqlite'}", "ib": "", "confirm_orders": False})
        session = TradingSession(settings, Store.open(settings.resolved_db_url),
                                 IBBroker(reconnect_initial=0.2, reconnect_max=0.5),
                                 simulator_factory=lambda: SimServer(port=0, seed=9, tick_interval=0.05))
        state = MonitorState("terminal")
        feed = SessionFeed(session, state, loop)
        monitor = MonitorServer(state, "127.0.0.1", 0, token=token)
        thread = MonitorThread(monitor)
        opened.append(SimpleNamespace(session=session, feed=feed, thread=thread))
        loop.run_until_complete(session.start())
        feed.start()
        thread.start()
        opened[-1].url = monitor.url
        return opened[-1]

    yield open_
    for terminal in opened:
        terminal.feed.stop()
        terminal.thread.stop()
        loop.run_until_complete(terminal.session.stop())
        terminal.session.store.close()


def screenshot_path(tmp_path: Path, name: str) -> Path:
    """resources/screenshots/<name> when QT_SAVE_SCREENSHOTS=1 (the README's pictures), else a temp file."""
    if os.environ.get("QT_SAVE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS / name
    return tmp_path / name


async def open_page(browser, url: str, viewport: dict | None = None, scale: float = 1, errors: list | None = None):
    context = await browser.new_context(viewport=viewport or DESKTOP, device_scale_factor=scale, color_scheme="dark")
    page = await context.new_page()
    if errors is not None:
        page.on("console", lambda message: message.type == "error" and errors.append(f"console: {message.text}"))
        page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    await page.goto(url)
    return context, page


async def place(session, symbol: str, side: OrderSide, quantity: float, below_market: float = 0.0):
    """A market order, or a limit ``below_market`` (a fraction) under the reference price that stays working."""
    instrument = await session.market.qualify(symbol)
    if not below_market:
        return await session.orders.place(Order(instrument, side, quantity), confirmed=True)
    reference = (await session.market.reference_price_now(instrument))[0]
    limit = instrument.round_to_tick(reference * (1 - below_market))
    return await session.orders.place(Order(instrument, side, quantity, OrderType.LIMIT, limit_price=limit),
                                      confirmed=True)


async def filled(session, placed, timeout: float = 8.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while session.orders.orders[placed.client_order_id].status is not OrderStatus.FILLED:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{placed.describe()} did not fill within {timeout:g} s")
        await asyncio.sleep(0.02)


def test_page_shows_the_position_and_the_fill_after_a_market_buy(loop, chromium, terminals):
    from playwright.async_api import expect

    terminal = terminals()

    async def scenario() -> None:
        context, page = await open_page(chromium, terminal.url)
        await expect(page.locator("#connection")).to_have_text("SIMULATOR", timeout=TIMEOUT_MS)
        await expect(page.locator("#positions")).to_have_text("No open positions", timeout=TIMEOUT_MS)
        await expect(page.locator("#fills")).to_have_text("No fills today")

        await place(terminal.session, "AAPL", OrderSide.BUY, 100)

        row = page.locator("#positions tr[data-symbol='AAPL'] td")
        await expect(row.nth(0)).to_have_text("AAPL", timeout=TIMEOUT_MS)
        await expect(row.nth(1)).to_have_text("100")
        fill = page.locator("#fills tr").first.locator("td")
        await expect(fill.nth(1)).to_have_text("AAPL", timeout=TIMEOUT_MS)
        await expect(fill.nth(2)).to_have_text("BUY")
        await expect(fill.nth(3)).to_have_text("100")
        await expect(page.locator("#fills-count")).to_have_text("1 today")
        await expect(page.locator("#account [data-field='net_liquidation']")).not_to_have_text("–")
        await context.close()

    loop.run_until_complete(scenario())


def test_token_protected_monitor_asks_for_the_token_then_shows_the_data(loop, chromium, terminals):
    from playwright.async_api import expect

    terminal = terminals(token=TOKEN)

    async def scenario() -> None:
        context, page = await open_page(chromium, terminal.url)
        form = page.locator("#token-form")
        await expect(form).to_be_visible(timeout=TIMEOUT_MS)
        await expect(page.locator("#main")).to_be_hidden()
        assert await page.locator("#token-input").get_attribute("type") == "password"

        await page.fill("#token-input", "x" * 24)
        await page.click("#token-form button[type=submit]")
        await expect(page.locator("#token-error")).to_be_visible(timeout=TIMEOUT_MS)

        await page.fill("#token-input", TOKEN)
        await page.click("#token-form button[type=submit]")
        await expect(form).to_be_hidden(timeout=TIMEOUT_MS)
        await expect(page.locator("#connection")).to_have_text("SIMULATOR", timeout=TIMEOUT_MS)
        await expect(page.locator("#positions")).to_have_text("No open positions")
        await expect(page.locator("#stream-state")).to_have_text("live stream", timeout=TIMEOUT_MS)
        assert await page.evaluate("sessionStorage.getItem('quantterminal.monitor.token')") == TOKEN

        await page.reload()  # the token is kept for the tab's session
        await expect(page.locator("#connection")).to_have_text("SIMULATOR", timeout=TIMEOUT_MS)
        await expect(form).to_be_hidden()
        await context.close()

    loop.run_until_complete(scenario())


def test_badge_turns_red_when_the_terminal_loses_the_broker(loop, chromium, terminals):
    from playwright.async_api import expect

    terminal = terminals()

    async def scenario() -> None:
        context, page = await open_page(chromium, terminal.url)
        badge = page.locator("#connection")
        await expect(badge).to_have_text("SIMULATOR", timeout=TIMEOUT_MS)
        await terminal.session.simulator.stop()  # the exchange goes away under the terminal
        await expect(badge).to_have_text(re.compile("RECONNECTING|DISCONNECTED"), timeout=TIMEOUT_MS)
        await expect(badge).to_have_class(re.compile("badge-down"))
        await expect(page.locator("#notice")).to_contain_text("broker connection is")
        await context.close()

    loop.run_until_complete(scenario())


def test_page_greys_out_as_stale_when_the_network_goes_silent_and_recovers(loop, chromium, terminals):
    from playwright.async_api import expect

    terminal = terminals()

    async def cut(route) -> None:
        await route.abort("internetdisconnected")

    async def scenario() -> None:
        context = await chromium.new_context(viewport=DESKTOP)
        page = await context.new_page()
        await page.clock.install()  # the page's clock, moved on below instead of waiting 20 s
        await page.goto(terminal.url)
        badge = page.locator("#connection")
        stale = re.compile(r"\bstale\b")
        await expect(badge).to_have_text("SIMULATOR", timeout=TIMEOUT_MS)

        await page.route("**/api/**", cut)  # new requests fail; the open stream just says nothing in page time
        await page.clock.fast_forward(25_000)
        await expect(badge).to_have_text("STALE", timeout=TIMEOUT_MS)
        await expect(page.locator("body")).to_have_class(stale)
        await expect(page.locator("#notice")).to_contain_text("reconnecting")

        await page.unroute("**/api/**", cut)
        await page.clock.fast_forward(35_000)  # past the longest backoff: the page reconnects by itself
        await expect(badge).to_have_text("SIMULATOR", timeout=TIMEOUT_MS)
        await expect(page.locator("body")).not_to_have_class(stale)
        await expect(page.locator("#notice")).to_be_hidden()
        await context.close()

    loop.run_until_complete(scenario())


def test_page_script_runs_without_console_errors(loop, chromium, terminals, monkeypatch):
    from playwright.async_api import expect

    monkeypatch.setattr("terminal.monitor.session_feed.EQUITY_EVERY_SECONDS", 0.2)
    terminal = terminals()
    errors: list[str] = []

    async def scenario() -> None:
        context, page = await open_page(chromium, terminal.url, errors=errors)
        await place(terminal.session, "MSFT", OrderSide.BUY, 10)
        await place(terminal.session, "MSFT", OrderSide.BUY, 10, below_market=0.03)
        await expect(page.locator("#orders tr[data-order]")).to_have_count(1, timeout=TIMEOUT_MS)
        await expect(page.locator("#equity-chart svg path").first).to_be_attached(timeout=TIMEOUT_MS)
        await page.click(".segmented button[data-series='net_liquidation']")
        await expect(page.locator("#chart-title")).to_have_text("Net liquidation today")
        await page.hover("#equity-chart svg")
        await page.set_viewport_size(PHONE)
        await expect(page.locator("#equity-chart svg")).to_be_attached()
        await page.wait_for_timeout(300)  # a resize redraw and a stream event or two
        await context.close()

    loop.run_until_complete(scenario())
    assert errors == []


def test_dashboard_screenshots_on_desktop_and_phone(loop, chromium, terminals, monkeypatch, tmp_path, real_csv_dir):
    """The README's pictures: a session with positions, a working order, fills, an alert and a backtest run."""
    from playwright.async_api import expect

    from terminal.backtest.loader import template_source
    from terminal.data import read_bars_csv

    monkeypatch.setattr("terminal.monitor.session_feed.EQUITY_EVERY_SECONDS", 0.5)
    terminal = terminals()
    session = terminal.session
    saving = os.environ.get("QT_SAVE_SCREENSHOTS") == "1"

    async def trade() -> None:
        goog = read_bars_csv(real_csv_dir / "GOOG.csv")
        request = session.backtests.request(template_source("sma_cross"), "sma_cross", {"GOOG": goog}, {})
        await session.backtests.record(request, await session.backtests.run(request))
        for symbol in ("AAPL", "MSFT"):  # as open charts do: live quotes move P&L and trigger alerts
            await session.market.subscribe(await session.market.qualify(symbol))
        for symbol, side, quantity in (("AAPL", OrderSide.BUY, 100), ("MSFT", OrderSide.BUY, 50),
                                       ("AAPL", OrderSide.SELL, 40)):
            await filled(session, await place(session, symbol, side, quantity))
            await asyncio.sleep(1.5 if saving else 0.2)  # a few equity points between the trades
        await place(session, "NVDA", OrderSide.BUY, 200, below_market=0.03)
        # one alert armed 4 % above MSFT, one "AAPL at or below" a level just over its price: it fires at once
        for symbol, level, side in (("MSFT", 1.04, 1.0), ("AAPL", 1.001, 1.002)):
            instrument = await session.market.qualify(symbol)
            reference = (await session.market.reference_price_now(instrument))[0]
            session.alerts.add(instrument, reference * level, reference * side)

    async def scenario() -> None:
        await trade()
        await asyncio.sleep(6 if saving else 1)
        context, page = await open_page(chromium, terminal.url)
        await expect(page.locator("#positions tr[data-symbol]")).to_have_count(2, timeout=TIMEOUT_MS)
        await expect(page.locator("#orders tr[data-order]")).to_have_count(1, timeout=TIMEOUT_MS)
        await expect(page.locator("#fills tr")).to_have_count(3, timeout=TIMEOUT_MS)
        await expect(page.locator("#runs")).to_contain_text("sma_cross", timeout=TIMEOUT_MS)
        await expect(page.locator("#equity-chart svg")).to_be_attached(timeout=TIMEOUT_MS)
        await expect(page.locator("#positions tr[data-symbol='AAPL'] td").nth(1)).to_have_text("60")
        await page.wait_for_timeout(200)
        await page.screenshot(path=str(screenshot_path(tmp_path, "monitor-web.png")))
        await context.close()

        context, phone = await open_page(chromium, terminal.url, viewport=PHONE, scale=2)
        await expect(phone.locator("#positions tr[data-symbol]")).to_have_count(2, timeout=TIMEOUT_MS)
        await expect(phone.locator("#equity-chart svg")).to_be_attached(timeout=TIMEOUT_MS)
        await phone.wait_for_timeout(200)
        overflow = await phone.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert overflow[0] <= overflow[1], f"the page scrolls sideways on a phone: {overflow[0]} px > {overflow[1]} px"
        await phone.screenshot(path=str(screenshot_path(tmp_path, "monitor-phone.png")))
        await context.close()

    loop.run_until_complete(scenario())
