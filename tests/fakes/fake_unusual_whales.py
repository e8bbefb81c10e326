"""A fake Unusual Whales API on 127.0.0.1 answering the five endpoints the flow features use,
in the shapes of UW's OpenAPI spec (../shared/API_SHAPES.md, part B): ``{"data": [...]}``,
decimals as strings, both timestamp styles, no cursors (``limit`` and ``older_than``).
Every value is a pure function of (ticker, day), so tests can recompute what they expect.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from feeds.calendar import sessions
from tests.fakes.fake_polygon import FakeServer, _seed

NY = "America/New_York"
KNOWN = ("SPY", "QQQ")


def _rng(*parts) -> np.random.Generator:
    return np.random.default_rng(_seed(*parts))


def _utc_text(stamp: pd.Timestamp, style: int) -> str:
    """The spec's ``2023-12-12 16:35:52.168490+00:00`` or the live ``...Z`` style."""
    utc = stamp.tz_convert("UTC")
    if style % 2:
        return utc.strftime("%Y-%m-%d %H:%M:%S.%f+00:00")
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _bound(text: str | None) -> pd.Timestamp | None:
    """``newer_than``/``older_than``: unix seconds or ms, or an ISO date."""
    if not text:
        return None
    if text.isdigit():
        value = int(text)
        return pd.Timestamp(value, unit="ms" if value > 1e11 else "s", tz="UTC")
    stamp = pd.Timestamp(text)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp


class FakeUnusualWhales(FakeServer):
    """The fake UW API; ``today`` is the newest day it knows. ``limit`` is honoured up to
    each endpoint's documented maximum."""

    def __init__(self, api_key: str = "uw-test-key-abcdef123456", today: str = "2024-06-28"):
        super().__init__()
        self.api_key = api_key
        self.today = pd.Timestamp(today)
        self.days = sessions("2022-01-03", self.today)

    @staticmethod
    def _limit(query: dict, default: int, maximum: int) -> int:
        return min(int(query.get("limit", default)), maximum)

    # ------------------------------------------------------------------ data
    def options_volume(self, ticker: str, day: pd.Timestamp) -> dict:
        rng = _rng("ov", ticker, f"{day:%Y%m%d}")
        calls, puts = int(rng.integers(400_000, 1_200_000)), int(rng.integers(300_000, 1_100_000))
        return {"date": f"{day:%Y-%m-%d}", "call_volume": calls, "put_volume": puts,
                "call_premium": f"{calls * 190.5:.2f}", "put_premium": f"{puts * 201.25:.2f}",
                "bullish_premium": f"{calls * 120.0:.1f}", "bearish_premium": f"{puts * 110.0:.1f}",
                "net_call_premium": str(calls * 10), "net_put_premium": str(-puts * 5),
                "call_open_interest": calls * 4, "put_open_interest": puts * 4,
                "call_volume_ask_side": calls // 2, "call_volume_bid_side": calls // 3,
                "put_volume_ask_side": puts // 2, "put_volume_bid_side": puts // 3,
                "avg_30_day_call_volume": "658450.333333333333"}

    def flow_alerts(self, ticker: str, day: pd.Timestamp) -> list[dict]:
        rng = _rng("fa", ticker, f"{day:%Y%m%d}")
        rows = []
        for i in range(int(rng.integers(0, 4))):
            when = pd.Timestamp(f"{day:%Y-%m-%d} {10 + i * 2}:15", tz=NY)
            premium = int(rng.integers(50_000, 900_000))
            rows.append({"alert_rule": "RepeatedHits", "ticker": ticker, "type": "call",
                         "option_chain": f"{ticker}{day:%y%m%d}C00500000", "strike": "500",
                         "expiry": f"{day:%Y-%m-%d}", "created_at": _utc_text(when, i),
                         "price": "2.8", "total_premium": str(premium), "total_size": 514,
                         "volume": 34468, "open_interest": 1061,
                         "volume_oi_ratio": "32.4863336475024", "underlying_price": "505.65",
                         "has_sweep": False})
        return rows

    def darkpool(self, ticker: str, day: pd.Timestamp) -> list[dict]:
        rng = _rng("dp", ticker, f"{day:%Y%m%d}")
        rows = []
        for i in range(5 + int(rng.integers(0, 12))):
            when = pd.Timestamp(f"{day:%Y-%m-%d} 09:31", tz=NY) + pd.Timedelta(minutes=17 * i)
            size = int(rng.choice([100, 500, 2_000, 15_000, 40_000]))
            price = 500.0 + float(rng.normal(0, 2))
            rows.append({"ticker": ticker, "executed_at": _utc_text(when, i + 1),
                         "price": f"{price:.2f}", "size": size,
                         "premium": f"{price * size:.2f}", "volume": 44915021,
                         "nbbo_bid": f"{price - 0.05:.2f}", "nbbo_ask": f"{price + 0.05:.2f}",
                         "canceled": i == 3, "market_center": "L", "sale_cond_codes": None,
                         "trade_settlement": "regular"})
        return rows

    def insider(self, ticker: str) -> list[dict]:
        rows = []
        for day in self.days[::9]:
            rng = _rng("in", ticker, f"{day:%Y%m%d}")
            rows.append({"filing_date": f"{day:%Y-%m-%d}",
                         "purchases": int(rng.integers(0, 5)),
                         "purchases_notional": f"{rng.uniform(0, 2e6):.3f}",
                         "sells": int(rng.integers(0, 5)),
                         "sells_notional": f"{-rng.uniform(0, 3e6):.4f}"})
        return rows[::-1]

    def tide(self, day: pd.Timestamp) -> list[dict]:
        rng = _rng("tide", f"{day:%Y%m%d}")
        steps = pd.date_range(f"{day:%Y-%m-%d} 09:30", f"{day:%Y-%m-%d} 16:00", freq="5min",
                              tz=NY)
        calls = np.cumsum(rng.normal(0, 1e6, len(steps)))
        puts = np.cumsum(rng.normal(0, 1e6, len(steps)))
        return [{"timestamp": t.isoformat(), "date": f"{day:%Y-%m-%d}",
                 "net_call_premium": f"{c:.4f}", "net_put_premium": f"{p:.4f}",
                 "net_volume": int(c / 1e3)} for t, c, p in zip(steps, calls, puts, strict=True)]

    # ------------------------------------------------------------------ routes
    def route(self, path, query, headers):
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, {"message": "Unauthorized: invalid or missing token"}, {}
        parts = path.strip("/").split("/")
        if path == "/api/option-trades/flow-alerts":
            return 200, {"data": self._alerts(query)}, {}
        if parts[:2] == ["api", "darkpool"] and len(parts) == 3:
            ticker = parts[2]
            if ticker not in KNOWN:
                return 422, {"msg": f"Invalid path input: {ticker} (valid example: AAPL)",
                             "path": path, "query": "", "url": path}, {}
            day = pd.Timestamp(query.get("date", f"{self.today:%Y-%m-%d}"))
            rows = self.darkpool(ticker, day) if day in self.days else []
            return 200, {"data": self._older_than(rows, "executed_at", query, 500, 500)}, {}
        if parts[:2] == ["api", "stock"] and len(parts) == 4:
            ticker, what = parts[2], parts[3]
            if what == "options-volume":
                limit = self._limit(query, 1, 500)
                days = self.days[::-1][:limit] if ticker in KNOWN else []
                return 200, {"data": [self.options_volume(ticker, d) for d in days]}, {}
            if what == "insider-buy-sells":
                return 200, {"data": self.insider(ticker) if ticker in KNOWN else []}, {}
        if path == "/api/market/market-tide":
            day = pd.Timestamp(query.get("date", f"{self.today:%Y-%m-%d}"))
            return 200, {"data": self.tide(day) if day in self.days else [],
                         "date": f"{day:%Y-%m-%d}"}, {}
        return 404, {"msg": f"no route {path}"}, {}

    def _alerts(self, query: dict) -> list[dict]:
        tickers = [t for t in query.get("ticker_symbol", "").split(",") if t in KNOWN]
        newer, older = _bound(query.get("newer_than")), _bound(query.get("older_than"))
        lo = (newer.tz_convert(NY).tz_localize(None).normalize() if newer is not None
              else self.today)
        hi = (older.tz_convert(NY).tz_localize(None).normalize() if older is not None
              else self.today)
        rows = [r for t in tickers for d in self.days[(self.days >= lo) & (self.days <= hi)]
                for r in self.flow_alerts(t, d)]
        rows = [r for r in rows if newer is None or
                _bound_text(r["created_at"]) >= newer]
        return self._older_than(rows, "created_at", query, 100, 200)

    def _older_than(self, rows, stamp, query, default, maximum) -> list[dict]:
        older = _bound(query.get("older_than"))
        rows = [r for r in rows if older is None or _bound_text(r[stamp]) < older]
        rows.sort(key=lambda r: _bound_text(r[stamp]), reverse=True)
        return rows[:self._limit(query, default, maximum)]


def _bound_text(text: str) -> pd.Timestamp:
    return pd.Timestamp(text.replace(" ", "T", 1)).tz_convert("UTC")
