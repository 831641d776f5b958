"""Render the README's replay screenshot: the real window (offscreen) on a replay of an archive.

Record first (ten minutes of the simulator, say):
  quant-terminal --data-dir /tmp/shot record --symbols AAPL,MSFT,NVDA,EUR.USD --depth --seconds 600
then:
  QT_QPA_PLATFORM=offscreen python scripts/replay_screenshot.py /tmp/shot/archive resources/screenshots/replay-dark.png
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(archive: str, output: str) -> None:
    import qasync
    from PySide6.QtWidgets import QApplication

    from terminal.archive import open_archive
    from terminal.config import load_settings
    from terminal.domain import BarSize, Order, OrderSide, OrderType
    from terminal.services.replay import ReplayRequest
    from terminal.ui.main import build_session, open_window

    partitions = open_archive(archive).partitions("ticks")
    start = min(p.first for p in partitions if p.first)
    app = QApplication.instance() or QApplication([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    folder = Path(tempfile.mkdtemp(prefix="qt-replay-shot-"))
    settings = load_settings(config_path=folder / "none.toml", environ={"QT_NO_KEYRING": "1"},
                             overrides={"db_url": f"sqlite:///{folder / 'shot.sqlite'}", "confirm_orders": False})
    session = build_session(settings)
    session.set_replay(ReplayRequest(archive, speed=20.0, paused=True))

    async def run() -> None:
        window = await open_window(session)
        window.resize(1600, 950)
        window.show()
        for symbol in ("AAPL", "MSFT", "NVDA", "EUR.USD"):
            await window.watchlist.add_symbol(symbol)
        aapl = session.market.instrument_for_symbol("AAPL")
        window.show_instrument(aapl)
        session.replay.jump(start.replace(microsecond=0) + (max(p.last for p in partitions) - start) * 0.55)
        await asyncio.sleep(1.0)
        window.chart.chart.set_timeframe(BarSize.SEC_5)  # as picking 5s in the chart's toolbar
        await asyncio.sleep(1.5)
        session.replay.play()
        await asyncio.sleep(2.0)
        quote = session.market.quotes[aapl.key]
        await session.orders.place(Order(aapl, OrderSide.BUY, 100, OrderType.MARKET), confirmed=True)
        await session.orders.place(Order(aapl, OrderSide.SELL, 100, OrderType.LIMIT,
                                         limit_price=round(quote.ask + 0.25, 2)), confirmed=True)
        await asyncio.sleep(4.0)
        session.replay.pause()
        await asyncio.sleep(0.5)
        window.grab().save(output)
        print(f"saved {output}")
        await session.stop()
        window.close()

    with loop:
        loop.run_until_complete(run())
    session.store.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
