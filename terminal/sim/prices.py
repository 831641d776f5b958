"""Simulated prices: seeded GBM per instrument (cointegrated pairs for KO/PEP, XOM/CVX), order books, history.

Only instruments somebody watches or trades move, so a hundred subscriptions stay cheap.
History is generated deterministically from (seed, contract, bar size) so a repeated
request returns the same bars, and it ends at the live price so charts join up.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from terminal.sim.contracts import Listing, Universe
from terminal.sim.events import BookLevel, BookSnapshot

SECONDS_PER_YEAR = 252 * 6.5 * 3600
DEPTH_LEVELS = 10


@dataclass
class PriceState:
    listing: Listing
    price: float
    open: float
    high: float
    low: float
    close: float  # previous close
    volume: float = 0.0
    last_size: float = 100.0
    spread_ticks: int = 1
    ou: float = 0.0  # pair spread deviation
    replay: np.ndarray | None = None
    replay_index: int = 0
    sizes: np.ndarray = field(default_factory=lambda: np.zeros(2 * DEPTH_LEVELS))


class Market:
    """Advances prices tick by tick and produces BookSnapshots."""

    def __init__(self, universe: Universe, seed: int = 7, replay: dict[str, pd.DataFrame] | None = None) -> None:
        self.universe = universe
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.states: dict[int, PriceState] = {}
        self._factor = 0.0
        self.replay = {k.upper(): v for k, v in (replay or {}).items()}

    def state(self, con_id: int) -> PriceState:
        state = self.states.get(con_id)
        if state is None:
            listing = self.universe.by_id[con_id]
            ins = listing.instrument
            rng = np.random.default_rng([self.seed, con_id])
            start = listing.start_price * math.exp(rng.normal(0, 0.02))
            replay = self.replay.get(ins.symbol)
            replay_closes = None
            if replay is not None and not replay.empty:
                replay_closes = replay["close"].to_numpy(dtype=float)
                start = float(replay_closes[0])
            start = ins.round_to_tick(start)
            close = ins.round_to_tick(start * math.exp(rng.normal(0, 0.01)))
            spread = 1 if ins.sec_type.value != "STK" or start < 100 else 2
            state = PriceState(listing, start, start, start, start, close, float(rng.integers(1, 50) * 10_000),
                               spread_ticks=spread, replay=replay_closes)
            state.sizes = rng.integers(1, 12, 2 * DEPTH_LEVELS).astype(float) * self._lot(listing)
            self.states[con_id] = state
        return state

    @staticmethod
    def _lot(listing: Listing) -> float:
        sec = listing.instrument.sec_type.value
        return {"FUT": 5.0, "CASH": 100_000.0}.get(sec, 100.0)

    def step(self, con_id: int, seconds: float) -> BookSnapshot:
        """Advance one instrument by ``seconds`` of simulated time and return its book."""
        state = self.state(con_id)
        listing = state.listing
        ins = listing.instrument
        if state.replay is not None:
            state.replay_index = (state.replay_index + 1) % len(state.replay)
            target = float(state.replay[state.replay_index])
        else:
            sigma = listing.annual_volatility * math.sqrt(seconds / SECONDS_PER_YEAR)
            shock = self.rng.normal()
            self._factor = 0.98 * self._factor + 0.02 * shock
            partner = self.states.get(self._partner_id(listing)) if listing.pair_with else None
            if partner is not None and listing.instrument.symbol > partner.listing.instrument.symbol:
                # follower: tracks the leader's log-price with a mean-reverting (OU) spread
                state.ou = state.ou * math.exp(-seconds / 600.0) + self.rng.normal(0, sigma * 0.6)
                ratio = partner.price / partner.listing.start_price
                target = listing.start_price * ratio * math.exp(state.ou)
            else:
                target = state.price * math.exp(sigma * (0.6 * shock + 0.4 * self._factor) - 0.5 * sigma * sigma)
        price = max(ins.tick_size, ins.round_to_tick(target))
        state.price = price
        state.high = max(state.high, price)
        state.low = min(state.low, price)
        lot = self._lot(listing)
        state.last_size = float(self.rng.integers(1, 10)) * (lot if lot < 1000 else 1000)
        state.volume += state.last_size
        jitter = self.rng.integers(-1, 2, state.sizes.shape) * lot
        state.sizes = np.clip(state.sizes + jitter, lot, 20 * lot)
        return self.book(con_id)

    def _follower_history(self, listing: Listing, leader_id: int, bar_seconds: int, count: int,
                          end: datetime) -> pd.DataFrame:
        """The pair follower's past: the leader's path scaled to the follower, times an OU spread, so
        history shows the same cointegration as the live ticks."""
        leader = self.history(leader_id, bar_seconds, count, end)
        ins = listing.instrument
        leader_start = self.universe.by_id[leader_id].start_price
        rng = np.random.default_rng(zlib.crc32(f"{self.seed}:{ins.contract_id}:{bar_seconds}:{count}".encode()))
        sigma = listing.annual_volatility * math.sqrt(min(bar_seconds, 23400) / SECONDS_PER_YEAR)
        phi = math.exp(-bar_seconds / 600.0) if bar_seconds < 86400 else 0.8
        spread = np.zeros(count)
        for t in range(1, count):
            spread[t] = phi * spread[t - 1] + rng.normal(0, sigma * 0.6)
        state = self.state(listing.instrument.contract_id)
        # bridge the spread so the last close is the live price: history and live ticks join without a jump
        target = math.log(state.price * leader_start / (float(leader["close"].iloc[-1]) * listing.start_price))
        spread += (target - spread[-1]) * np.linspace(0.0, 1.0, count)
        scale = listing.start_price / leader_start * np.exp(spread)
        tick = ins.tick_size
        frame = pd.DataFrame(index=leader.index)
        for column in ("open", "high", "low", "close"):
            frame[column] = np.round(np.round(leader[column].to_numpy() * scale / tick) * tick, ins.price_decimals())
        frame["high"] = frame[["open", "high", "close"]].max(axis=1)
        frame["low"] = frame[["open", "low", "close"]].min(axis=1)
        frame["volume"] = np.round(leader["volume"].to_numpy() * rng.uniform(0.6, 1.4, count))
        return frame

    def _partner_id(self, listing: Listing) -> int:
        partners = self.universe.by_symbol.get(listing.pair_with, ())
        return partners[0].instrument.contract_id if partners else 0

    def book(self, con_id: int, when: datetime | None = None) -> BookSnapshot:
        state = self.state(con_id)
        ins = state.listing.instrument
        tick = ins.tick_size
        half = state.spread_ticks
        bid0 = ins.round_to_tick(state.price - math.floor(half / 2 + 0.5) * tick) if half > 1 else ins.round_to_tick(state.price - tick)
        ask0 = ins.round_to_tick(bid0 + max(1, half) * tick)
        # Every level in whole ticks, rounded once in numpy (20 round_to_tick calls were most of a step's time).
        decimals = ins.price_decimals()
        steps = np.arange(DEPTH_LEVELS)
        bid_prices = np.round((round(bid0 / tick) - steps) * tick, decimals).tolist()
        ask_prices = np.round((round(ask0 / tick) + steps) * tick, decimals).tolist()
        sizes = state.sizes.tolist()
        bids = tuple(map(BookLevel, bid_prices, sizes[:DEPTH_LEVELS]))
        asks = tuple(map(BookLevel, ask_prices, sizes[DEPTH_LEVELS:]))
        return BookSnapshot(con_id, when or datetime.now(UTC), bids, asks, state.price, state.last_size, state.volume)

    def history(self, con_id: int, bar_seconds: int, count: int, end: datetime) -> pd.DataFrame:
        """``count`` bars of ``bar_seconds`` ending at ``end``; deterministic, joined to the live price."""
        state = self.state(con_id)
        listing = state.listing
        ins = listing.instrument
        replay = self.replay.get(ins.symbol)
        if replay is not None and not replay.empty:
            return replay.iloc[: max(1, state.replay_index + 1)].tail(count)
        partner_id = self._partner_id(listing) if listing.pair_with else 0
        if partner_id and ins.symbol > listing.pair_with:
            return self._follower_history(listing, partner_id, bar_seconds, count, end)
        step = bar_seconds
        end_ts = int(end.timestamp()) // step * step
        if bar_seconds >= 86400:
            days = pd.bdate_range(end=pd.Timestamp(end_ts, unit="s", tz="UTC").normalize(), periods=count)
            times = days.as_unit("s").asi8
        else:
            times = end_ts - step * np.arange(count)[::-1]
        key = zlib.crc32(f"{self.seed}:{con_id}:{bar_seconds}:{int(times[-1])}".encode())
        rng = np.random.default_rng(key)
        sigma = listing.annual_volatility * math.sqrt(min(bar_seconds, 23400) / SECONDS_PER_YEAR)
        returns = rng.normal(0, sigma, count)
        log_close = np.log(state.price) - np.concatenate([np.cumsum(returns[::-1])[::-1][1:], [0.0]])
        close = np.exp(log_close)
        open_ = np.concatenate([[close[0] * math.exp(rng.normal(0, sigma))], close[:-1]])
        wick = np.abs(rng.normal(0, sigma * 0.6, (2, count)))
        high = np.maximum(open_, close) * np.exp(wick[0])
        low = np.minimum(open_, close) * np.exp(-wick[1])
        tick = ins.tick_size
        round_ = lambda a: np.round(np.round(a / tick) * tick, ins.price_decimals())  # noqa: E731
        base_volume = {"FUT": 2_000, "CASH": 5_000_000}.get(ins.sec_type.value, 50_000)
        volume = rng.integers(1, 20, count) * base_volume * max(1, bar_seconds // 60) ** 0.5
        frame = pd.DataFrame(
            {"open": round_(open_), "high": round_(high), "low": round_(low), "close": round_(close),
             "volume": np.round(volume)},
            index=pd.DatetimeIndex(pd.to_datetime(np.asarray(times, dtype="int64"), unit="s", utc=True), name="time"),
        )
        frame["high"] = frame[["open", "high", "close"]].max(axis=1)
        frame["low"] = frame[["open", "low", "close"]].min(axis=1)
        return frame
