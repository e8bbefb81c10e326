"""A fake Polygon (Massive) REST API on 127.0.0.1, answering in the documented shapes
(../shared/API_SHAPES.md), so the real ``massive`` client can be tested without a network.

``FakeServer`` is the threaded HTTP plumbing shared with the fake Unusual Whales server:
subclasses answer ``route(path, query, headers)`` with ``(status, body, headers)``; this base
records every request, checks nothing itself, and lets a test script failures in front of
the normal answers (``fail``), slow answers down (``slow``) or break the JSON (``fail`` with a
non-JSON body). No test reaches past 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import math
import re
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np
import pandas as pd

from feeds.calendar import expiry_for_friday, sessions
from pricing.black_scholes import black_scholes_greeks, black_scholes_price


class FakeClock:
    """A clock for the rate limiter and the retries that only moves when slept on, so a
    test of minute-long waits takes no time; ``sleeps`` lists every wait asked for."""

    def __init__(self, start: float = 1_700_000_000.0):
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self.now

    def time(self) -> float:
        return self.monotonic()

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += max(seconds, 0.0)


@dataclass
class Recorded:
    """One request the server saw."""

    path: str
    query: dict
    headers: dict
    status: int = 0


@dataclass
class Scripted:
    """A canned answer for requests whose path starts with ``prefix`` (``times`` uses)."""

    prefix: str
    status: int
    body: bytes
    headers: dict = field(default_factory=dict)
    times: int = 1


class FakeServer:
    """Base of the fake APIs: start/stop, recording, scripted failures and delays."""

    def __init__(self):
        self.requests: list[Recorded] = []
        self.scripted: list[Scripted] = []
        self.delays: dict[str, float] = {}
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ life cycle
    def start(self) -> FakeServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else each answer waits ~40 ms for a delayed ACK

            def do_GET(self):  # noqa: N802 - http.server's name
                server._handle(self)

            def log_message(self, *args):  # keep test output quiet
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def base(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # ------------------------------------------------------------------ test controls
    def fail(self, prefix: str, status: int, body: object = None, headers: dict | None = None,
             times: int = 1) -> None:
        """Answer the next ``times`` requests under ``prefix`` with ``status`` and ``body``
        (a dict or list becomes JSON; bytes or str go out as they are)."""
        if isinstance(body, (dict, list)):
            raw = json.dumps(body).encode()
        elif isinstance(body, str):
            raw = body.encode()
        else:
            raw = body or b""
        with self._lock:
            self.scripted.append(Scripted(prefix, status, raw, dict(headers or {}), times))

    def slow(self, prefix: str, seconds: float) -> None:
        """Wait ``seconds`` before answering requests under ``prefix``."""
        self.delays[prefix] = seconds

    def count(self, prefix: str = "/") -> int:
        """Requests seen whose path starts with ``prefix``."""
        with self._lock:
            return sum(1 for r in self.requests if r.path.startswith(prefix))

    def paths(self, prefix: str = "/") -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(prefix)]

    # ------------------------------------------------------------------ plumbing
    def route(self, path: str, query: dict, headers: dict) -> tuple[int, object, dict]:
        raise NotImplementedError

    def _scripted_for(self, path: str) -> Scripted | None:
        with self._lock:
            for item in self.scripted:
                if path.startswith(item.prefix) and item.times > 0:
                    item.times -= 1
                    if item.times == 0:
                        self.scripted.remove(item)
                    return item
        return None

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        path = unquote(parts.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in handler.headers.items()}
        record = Recorded(path, query, headers)
        with self._lock:
            self.requests.append(record)
        for prefix, seconds in list(self.delays.items()):
            if path.startswith(prefix):
                time.sleep(seconds)
        scripted = self._scripted_for(path)
        if scripted is not None:
            status, raw, extra = scripted.status, scripted.body, scripted.headers
        else:
            status, body, extra = self.route(path, query, headers)
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        record.status = status
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(raw)))
            for name, value in extra.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (time-out tests)
            pass


# ---------------------------------------------------------------------------------------
# the fake Polygon market and API
# ---------------------------------------------------------------------------------------

NY = "America/New_York"
MARKET_START, MARKET_END = "2019-01-02", "2026-12-31"
#: symbol -> (close on the first session, annual volatility, annual drift)
FAKE_SYMBOLS = {"SPY": (250.0, 0.16, 0.10), "QQQ": (160.0, 0.22, 0.12)}
OPTION_TICKER = re.compile(r"^O:([A-Z]+)(\d{6})([CP])(\d{8})$")
LISTED_DAYS = 120  # an expiry is listed this many calendar days before it


def _seed(*parts) -> int:
    return zlib.crc32("|".join(map(str, parts)).encode())


def _encode_cursor(state: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))


def _date_arg(text: str) -> pd.Timestamp:
    """A path date: YYYY-MM-DD or Unix milliseconds (the session's date in New York)."""
    if text.isdigit():
        return pd.Timestamp(int(text), unit="ms", tz="UTC").tz_convert(NY).tz_localize(None)
    return pd.Timestamp(text)


def _ms(day: pd.Timestamp, hour: int = 0, minute: int = 0) -> int:
    """Unix ms of ``day`` at ``hour:minute`` New York time (daily bars start at midnight)."""
    local = pd.Timestamp(day.year, day.month, day.day, hour, minute, tz=NY)
    return int(local.tz_convert("UTC").value // 1_000_000)


class FakeMarket:
    """Deterministic daily prices, a yield curve and option prices (Black-Scholes on a
    skewed surface), so every answer of the fake API is consistent with every other."""

    def __init__(self, symbols: dict | None = None):
        self.days = sessions(MARKET_START, MARKET_END)
        self.symbols = dict(symbols or FAKE_SYMBOLS)
        self._closes = {s: self._path(s, *p) for s, p in self.symbols.items()}
        self._rates: dict = {}

    def _path(self, symbol, first, vol, drift) -> pd.Series:
        rng = np.random.default_rng(_seed("close", symbol))
        daily = rng.normal((drift - 0.5 * vol * vol) / 252, vol / math.sqrt(252), len(self.days))
        daily[0] = 0.0
        return pd.Series(first * np.exp(np.cumsum(daily)), index=self.days)

    def closes(self, symbol: str) -> pd.Series:
        return self._closes[symbol]

    def bars(self, symbol: str) -> pd.DataFrame:
        close = self._closes[symbol]
        rng = np.random.default_rng(_seed("bars", symbol))
        prev = close.shift(1).fillna(close.iloc[0])
        open_ = prev * np.exp(rng.normal(0, 0.003, len(close)))
        high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.004, len(close))))
        low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.004, len(close))))
        volume = np.round(rng.lognormal(np.log(8e7), 0.3, len(close)))
        return pd.DataFrame({"o": open_.round(4), "h": high.round(4), "l": low.round(4),
                             "c": close.round(4), "v": volume,
                             "vw": ((high + low + close) / 3).round(4),
                             "n": (volume // 150).astype(int)}, index=close.index)

    def yields(self, day: pd.Timestamp) -> dict:
        """Percent yields by tenor on ``day``; the 1-month tenor is missing on some days."""
        t = (day - pd.Timestamp(MARKET_START)).days / 365.0
        short = 2.0 + 3.0 * (1 - math.exp(-t / 2.0))
        row = {"date": f"{day:%Y-%m-%d}", "yield_1_month": round(short + 0.05, 3),
               "yield_3_month": round(short, 3), "yield_6_month": round(short - 0.05, 3),
               "yield_1_year": round(short - 0.2, 3), "yield_2_year": round(short - 0.5, 3),
               "yield_5_year": round(short - 0.8, 3), "yield_10_year": round(short - 0.7, 3),
               "yield_30_year": round(short - 0.5, 3)}
        if day.dayofyear % 7 == 0:
            del row["yield_1_month"]
        return row

    def rate(self, day: pd.Timestamp) -> float:
        rate = self._rates.get(day)
        if rate is None:
            rate = self._rates[day] = self.yields(day)["yield_3_month"] / 100.0
        return rate

    @staticmethod
    def surface(spot: float, strike: float, base: float) -> float:
        return float(np.clip(base - 0.6 * math.log(strike / spot), 0.07, 0.9))

    def option_value(self, underlying: str, expiry: pd.Timestamp, right: str, strike: float,
                     day: pd.Timestamp) -> float:
        spot = float(self._closes[underlying].loc[day])
        days = (expiry - day).days
        if days <= 0:
            return max(spot - strike, 0.0) if right == "C" else max(strike - spot, 0.0)
        iv = self.surface(spot, strike, self.symbols[underlying][1])
        return float(black_scholes_price(spot, strike, days / 365.0, self.rate(day), iv,
                                         right == "C"))

    def traded(self, ticker: str, day: pd.Timestamp, spot: float, strike: float) -> bool:
        """Far-from-the-money contracts skip some days (no trade, no daily bar)."""
        far = abs(math.log(strike / spot)) > 0.06
        return not far or _seed(ticker, f"{day:%Y%m%d}") % 10 >= 3

    def expiries(self, as_of: pd.Timestamp) -> list[pd.Timestamp]:
        first = as_of + pd.Timedelta(days=(4 - as_of.dayofweek) % 7 or 7)
        fridays = pd.date_range(first, as_of + pd.Timedelta(days=LISTED_DAYS), freq="7D")
        return [pd.Timestamp(expiry_for_friday(np.datetime64(f.date(), "D"))) for f in fridays]

    def contracts(self, underlying: str, as_of: pd.Timestamp) -> list[dict]:
        spot = float(self._closes[underlying].asof(as_of))
        strikes = np.arange(math.floor(0.75 * spot), math.ceil(1.25 * spot) + 1, 1.0)
        rows = []
        for expiry in self.expiries(as_of):
            for right in ("C", "P"):
                for strike in strikes:
                    ticker = f"O:{underlying}{expiry:%y%m%d}{right}{int(strike * 1000):08d}"
                    rows.append({"cfi": "OCASPS" if right == "C" else "OPASPS",
                                 "contract_type": "call" if right == "C" else "put",
                                 "exercise_style": "american",
                                 "expiration_date": f"{expiry:%Y-%m-%d}",
                                 "primary_exchange": "BATO", "shares_per_contract": 100,
                                 "strike_price": float(strike), "ticker": ticker,
                                 "underlying_ticker": underlying})
            # one adjusted contract per expiry (after a corporate action), as Polygon lists
            atm = float(5 * round(spot / 5) - 5)  # on the grid, out of the money
            rows.append({"cfi": "OPASPS", "contract_type": "put", "correction": 1,
                         "exercise_style": "american", "expiration_date": f"{expiry:%Y-%m-%d}",
                         "primary_exchange": "BATO", "shares_per_contract": 150,
                         "strike_price": atm, "underlying_ticker": underlying,
                         "ticker": f"O:{underlying}1{expiry:%y%m%d}P{int(atm * 1000):08d}",
                         "additional_underlyings": [{"amount": 44, "type": "equity",
                                                     "underlying": "VMW"}]})
        return rows


def _compare(value, op: str, bound) -> bool:
    return {"": value == bound, "gte": value >= bound, "gt": value > bound,
            "lte": value <= bound, "lt": value < bound}[op]


def _filters(query: dict, field_name: str, cast) -> list[tuple[str, object]]:
    out = []
    for op in ("", "gte", "gt", "lte", "lt"):
        key = field_name + (f".{op}" if op else "")
        if key in query:
            out.append((op, cast(query[key])))
    return out


class FakePolygon(FakeServer):
    """The fake Polygon API (see module doc). ``api_key`` is the only key it accepts;
    ``page_size`` caps every page so tests can force pagination; ``unknown_as_404`` answers
    an unknown ticker with 404 instead of an empty result."""

    PUBLIC_HOST = "https://api.massive.com"  # next_url host (the client ignores it)

    def __init__(self, api_key: str = "pk-test-0123456789abcdef", page_size: int | None = None,
                 market: FakeMarket | None = None, snapshot_day: str = "2024-06-28"):
        super().__init__()
        self.api_key = api_key
        self.page_size = page_size
        self.market = market or FakeMarket()
        self.unknown_as_404 = False
        self.snapshot_day = pd.Timestamp(snapshot_day)

    # ------------------------------------------------------------------ helpers
    def _authorized(self, query: dict, headers: dict) -> tuple[int, object] | None:
        given = headers.get("authorization", "")
        token = given[7:] if given.startswith("Bearer ") else query.get("apiKey")
        if not token:
            return 401, {"status": "ERROR", "request_id": "req-nokey",
                         "error": "API Key was not provided"}
        if token != self.api_key:
            return 401, {"status": "ERROR", "request_id": "req-badkey",
                         "error": "Unknown API Key"}
        return None

    def _page(self, path: str, rows: list, state: dict, limit: int, body: dict) -> dict:
        offset = int(state.get("offset", 0))
        size = min(limit, self.page_size) if self.page_size else limit
        page = rows[offset:offset + size]
        body = {**body, "status": "OK", "request_id": f"req-{offset}", "count": len(page)}
        if page:
            body["results"] = page
        if offset + size < len(rows):
            cursor = _encode_cursor({**state, "offset": offset + size})
            body["next_url"] = f"{self.PUBLIC_HOST}{path}?cursor={cursor}"
        return body

    @staticmethod
    def _state(query: dict) -> dict:
        return _decode_cursor(query["cursor"]) if "cursor" in query else dict(query)

    # ------------------------------------------------------------------ routes
    def route(self, path, query, headers):
        refused = self._authorized(query, headers)
        if refused:
            return (*refused, {})
        if path.startswith("/v2/aggs/ticker/"):
            return (*self._aggs(path, self._state(query)), {})
        if path == "/v3/reference/options/contracts":
            return (*self._contracts(path, self._state(query)), {})
        if path.startswith("/v3/snapshot/options/"):
            return (*self._snapshot(path, self._state(query)), {})
        if path == "/fed/v1/treasury-yields":
            return (*self._treasury(path, self._state(query)), {})
        if path == "/fed/v1/inflation":
            return (*self._inflation(path, self._state(query)), {})
        return 404, {"status": "NOT_FOUND", "request_id": "req-404",
                     "message": f"no route {path}"}, {}

    def _aggs(self, path: str, state: dict):
        parts = path.split("/")  # /v2/aggs/ticker/{T}/range/{m}/{span}/{from}/{to}
        ticker, timespan = parts[4], parts[7]
        start, end = _date_arg(parts[8]), _date_arg(parts[9])
        limit = min(int(state.get("limit", 5000)), 50000)
        match = OPTION_TICKER.match(ticker)
        if match:
            rows = self._option_bars(ticker, match, start, end)
        elif ticker in self.market.symbols:
            rows = (self._day_bars(ticker, start, end) if timespan == "day"
                    else self._minute_bars(ticker, start, end))
        else:
            rows = []
        if not rows and self.unknown_as_404 and not match:
            return 404, {"status": "NOT_FOUND", "request_id": "req-unknown",
                         "message": f"Ticker {ticker} not found"}
        if state.get("sort") == "desc":
            rows = rows[::-1]
        page_path = "/".join(parts[:8] + [str(_ms(start)), parts[9]])
        body = self._page(page_path, rows, state, limit,
                          {"ticker": ticker, "adjusted": state.get("adjusted", "true") == "true",
                           "queryCount": len(rows), "resultsCount": len(rows)})
        body["resultsCount"] = body.get("count", 0)
        del body["count"]
        return 200, body

    def _day_bars(self, symbol, start, end) -> list[dict]:
        bars = self.market.bars(symbol)
        bars = bars[(bars.index >= start) & (bars.index <= end)]
        return [{"v": float(r.v), "vw": r.vw, "o": r.o, "c": r.c, "h": r.h, "l": r.l,
                 "t": _ms(day), "n": int(r.n)} for day, r in bars.iterrows()]

    def _minute_bars(self, symbol, start, end) -> list[dict]:
        bars = self.market.bars(symbol)
        bars = bars[(bars.index >= start) & (bars.index <= end)]
        rows = []
        for day, r in bars.iterrows():
            path = np.linspace(r.o, r.c, 390)
            for i, price in enumerate(path):
                t = _ms(day, 9 + (30 + i) // 60, (30 + i) % 60)
                rows.append({"v": 1000.0 + i, "vw": round(price, 4), "o": round(price, 4),
                             "c": round(price, 4), "h": round(price * 1.0005, 4),
                             "l": round(price * 0.9995, 4), "t": t, "n": 10})
        return rows

    def _option_bars(self, ticker, match, start, end) -> list[dict]:
        underlying, yymmdd, right, strike8 = match.groups()
        if underlying not in self.market.symbols:
            return []
        expiry = pd.Timestamp(f"20{yymmdd[:2]}-{yymmdd[2:4]}-{yymmdd[4:]}")
        strike = int(strike8) / 1000.0
        closes = self.market.closes(underlying)
        first = max(start, expiry - pd.Timedelta(days=LISTED_DAYS))
        days = closes.index[(closes.index >= first) & (closes.index <= min(end, expiry))]
        spots = closes.loc[days].to_numpy()
        years = np.maximum((expiry - days).days.to_numpy(dtype=float), 0.0) / 365.0
        rates = np.array([self.market.rate(d) for d in days])
        iv = np.clip(self.market.symbols[underlying][1] - 0.6 * np.log(strike / spots),
                     0.07, 0.9)
        with np.errstate(divide="ignore", invalid="ignore"):
            values = black_scholes_price(spots, strike, years, rates, iv, right == "C")
        intrinsic = np.maximum(spots - strike, 0.0) if right == "C" else np.maximum(
            strike - spots, 0.0)
        values = np.where(years > 0, values, intrinsic)
        rows = []
        for day, spot, value in zip(days, spots, values, strict=True):
            if not self.market.traded(ticker, day, spot, strike):
                continue
            value = round(float(value), 2)
            if value < 0.01:
                continue
            volume = 1 + _seed(ticker, day) % 500
            rows.append({"v": float(volume), "vw": value, "o": value, "c": value,
                         "h": round(value * 1.05, 2), "l": round(value * 0.95, 2),
                         "t": _ms(day), "n": 1 + volume // 10})
        return rows

    def _contracts(self, path: str, state: dict):
        underlying = state.get("underlying_ticker", "")
        if underlying not in self.market.symbols:
            return 200, self._page(path, [], state, 10, {})
        as_of = pd.Timestamp(state.get("as_of", f"{self.snapshot_day:%Y-%m-%d}"))
        rows = self.market.contracts(underlying, as_of)
        for op, bound in _filters(state, "expiration_date", pd.Timestamp):
            rows = [r for r in rows if _compare(pd.Timestamp(r["expiration_date"]), op, bound)]
        for op, bound in _filters(state, "strike_price", float):
            rows = [r for r in rows if _compare(r["strike_price"], op, bound)]
        if "contract_type" in state:
            rows = [r for r in rows if r["contract_type"] == state["contract_type"]]
        sort = state.get("sort", "ticker")
        rows.sort(key=lambda r: r[sort], reverse=state.get("order") == "desc")
        return 200, self._page(path, rows, state, min(int(state.get("limit", 10)), 1000), {})

    def _snapshot(self, path: str, state: dict):
        underlying = path.rsplit("/", 1)[-1]
        if underlying not in self.market.symbols:
            return 404, {"status": "NOT_FOUND", "request_id": "req-snap",
                         "message": f"Ticker {underlying} not found"}
        day = self.snapshot_day
        spot = float(self.market.closes(underlying).loc[day])
        rows = []
        for contract in self.market.contracts(underlying, day):
            expiry = pd.Timestamp(contract["expiration_date"])
            strike, right = contract["strike_price"], contract["ticker"][-9]
            keep = all(_compare(pd.Timestamp(contract["expiration_date"]), op, bound)
                       for op, bound in _filters(state, "expiration_date", pd.Timestamp))
            keep &= all(_compare(strike, op, bound)
                        for op, bound in _filters(state, "strike_price", float))
            if not keep:
                continue
            value = max(self.market.option_value(underlying, expiry, right, strike, day), 0.01)
            iv = self.market.surface(spot, strike, self.market.symbols[underlying][1])
            half = max(0.01, round(0.02 * value, 2))
            ns = _ms(day, 16) * 1_000_000
            row = {"break_even_price": strike + value if right == "C" else strike - value,
                   "day": {"close": round(value, 2), "high": round(value * 1.05, 2),
                           "low": round(value * 0.95, 2), "open": round(value, 2),
                           "volume": 1 + _seed(contract["ticker"]) % 900,
                           "vwap": round(value, 2), "last_updated": ns,
                           "change": 0.0, "change_percent": 0.0,
                           "previous_close": round(value, 2)},
                   "details": {k: contract[k] for k in ("contract_type", "exercise_style",
                                                        "expiration_date",
                                                        "shares_per_contract",
                                                        "strike_price", "ticker")},
                   "implied_volatility": iv,
                   "last_quote": {"ask": round(value + half, 2), "ask_size": 10,
                                  "bid": round(max(value - half, 0.0), 2), "bid_size": 12,
                                  "last_updated": ns, "midpoint": round(value, 2),
                                  "timeframe": "DELAYED", "ask_exchange": 301},
                   "open_interest": 100 + _seed("oi", contract["ticker"]) % 5000,
                   "underlying_asset": {"price": round(spot, 2), "ticker": underlying,
                                        "last_updated": ns, "timeframe": "DELAYED",
                                        "change_to_break_even": 0.0}}
            years = (expiry - day).days / 365.0
            deep = abs(math.log(strike / spot)) > 0.2
            if not deep:  # "greeks ... not returned" for deep in-the-money contracts
                g = black_scholes_greeks(spot, strike, years, self.market.rate(day), iv,
                                         right == "C")
                row["greeks"] = {k: float(g[k]) for k in ("delta", "gamma", "theta", "vega")}
            rows.append(row)
        return 200, self._page(path, rows, state, min(int(state.get("limit", 10)), 250), {})

    def _treasury(self, path: str, state: dict):
        days = self.market.days
        for op, bound in _filters(state, "date", pd.Timestamp):
            days = days[[_compare(d, op, bound) for d in days]]
        rows = [self.market.yields(d) for d in days]
        if state.get("order") == "desc" or state.get("sort") == "date.desc":
            rows = rows[::-1]
        return 200, self._page(path, rows, state, min(int(state.get("limit", 100)), 50000), {})

    def _inflation(self, path: str, state: dict):
        months = pd.date_range(MARKET_START[:8] + "01", MARKET_END, freq="MS")
        for op, bound in _filters(state, "date", pd.Timestamp):
            months = months[[_compare(m, op, bound) for m in months]]
        rows = [{"date": f"{m:%Y-%m-%d}", "cpi": round(250 + 0.3 * i, 3),
                 "cpi_core": round(260 + 0.25 * i, 3), "cpi_year_over_year": 3.1,
                 "pce": round(110 + 0.2 * i, 3)} for i, m in enumerate(months)
                if not (m.year == 2025 and m.month == 10)]  # a release that never happened
        return 200, self._page(path, rows, state, min(int(state.get("limit", 100)), 50000), {})
