"""Unusual Whales REST client (httpx), for the five endpoints the flow features need.

No trustworthy Python client exists (see API_SHAPES.md, part B0), so this is a small one on
httpx, written from UW's OpenAPI spec:

* ``Authorization: Bearer <key>``, ``Accept: application/json``; base URL from
  ``UNUSUAL_WHALES_API_BASE`` (default ``https://api.unusualwhales.com``);
* answers are ``{"data": [...]}``; decimals come as strings (``"186705"``) and become floats;
  timestamps come as ``2023-12-12 16:35:52.168490+00:00``, ``2025-10-22T20:27:01Z`` or
  ``2025-10-22T09:30:00-04:00`` and become UTC timestamps; a missing field becomes NaN;
* no cursors: flow alerts and dark-pool prints are paged with ``older_than`` while a page
  comes back full, from just after the oldest row's millisecond (rows share timestamps:
  those of that instant the page had no room for come next, the ones sent twice are
  dropped);
* every request passes a shared rate limiter (``UNUSUAL_WHALES_RATE_LIMIT`` requests a
  minute, default 120 as UW's own MCP server), and is retried by tenacity on 429 (honouring
  ``Retry-After``), 5xx and time-outs; what still fails is an ``ApiError`` naming Unusual
  Whales, the request and what to do, never the key. A body that is not JSON, a ``data``
  that is not a list of rows, a row without its date: an error, never an empty or a
  misplaced answer.
"""

from __future__ import annotations

import json
import logging
import math
import os

import httpx
import numpy as np
import pandas as pd

from feeds.rate_limit import (
    RETRY_STATUSES,
    ApiError,
    Clock,
    RateLimiter,
    RetryPolicy,
    SystemClock,
    Transient,
    call_with_retries,
    parse_retry_after,
    shared_limiter,
    waited_as_told,
)
from feeds.secrets import redact

log = logging.getLogger(__name__)

API = "Unusual Whales"
BASE_ENV = "UNUSUAL_WHALES_API_BASE"
DEFAULT_BASE = "https://api.unusualwhales.com"
RATE_ENV = "UNUSUAL_WHALES_RATE_LIMIT"
DEFAULT_RATE = 120
KEY_HINT = "UNUSUAL_WHALES_API_KEY in the environment or .env"
#: rows asked per page: the spec's maxima
PAGE_SIZES = {"flow-alerts": 200, "darkpool": 500, "options-volume": 500}
MAX_PAGES = 500


def to_number(value) -> float:
    """A UW decimal (string or number) as a float; NaN when missing or unreadable."""
    if value is None or isinstance(value, bool):
        return np.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


def to_timestamp(value) -> pd.Timestamp | None:
    """Any of UW's timestamp forms (both string styles, or epoch seconds/ms) in UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            return None
        unit = "ms" if abs(value) > 1e11 else "s"
        return pd.Timestamp(value, unit=unit, tz="UTC")
    try:
        stamp = pd.Timestamp(str(value).replace(" ", "T", 1))
    except ValueError:
        return None
    if pd.isna(stamp):  # "NaT": no instant (it paged back to year 1677 as older_than)
        return None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def rows_frame(rows: list[dict], numbers: tuple[str, ...], times: tuple[str, ...] = (),
               texts: tuple[str, ...] = (), path: str = "") -> pd.DataFrame:
    """The fields asked for, typed: ``numbers`` as floats, ``times`` as UTC timestamps.
    A row whose time is missing or unreadable is an ``ApiError`` naming ``path``: such a
    row cannot be placed in a day (a flow alert without its ``created_at`` was left out
    of its day's count in silence; a tide reading without its ``timestamp`` sorted last and
    became the day's closing tide)."""
    frame = pd.DataFrame({name: [to_number(r.get(name)) for r in rows] for name in numbers},
                         dtype=float)
    for name in times:
        stamps = [to_timestamp(r.get(name)) for r in rows]
        bad = next((i for i, stamp in enumerate(stamps) if stamp is None), None)
        if bad is not None:
            raise ApiError(f"{API} answered GET {path} with a row whose {name} is "
                           f"{rows[bad].get(name)!r}, not a time; the data was not used",
                           api=API, status=200)
        frame[name] = pd.to_datetime(stamps, utc=True)
    for name in texts:
        frame[name] = [None if r.get(name) is None else str(r.get(name)) for r in rows]
    return frame


def unusual_whales_base(env=None) -> str:
    env = os.environ if env is None else env
    return (env.get(BASE_ENV) or DEFAULT_BASE).rstrip("/")


def unusual_whales_limiter(env=None) -> RateLimiter:
    """The process-wide limiter, ``UNUSUAL_WHALES_RATE_LIMIT`` requests a minute."""
    env = os.environ if env is None else env
    text = env.get(RATE_ENV) or str(DEFAULT_RATE)
    try:
        per_minute = int(text)
        if per_minute < 1:
            raise ValueError
    except ValueError:
        raise ApiError(f"{RATE_ENV} must be a whole number of requests per minute, got "
                       f"{text!r}", api=API) from None
    return shared_limiter("unusual-whales", per_minute, 60.0)


class UnusualWhalesClient:
    """The endpoints the flow features use (module doc); returns typed DataFrames."""

    def __init__(self, api_key: str, *, base: str | None = None,
                 limiter: RateLimiter | None = None, policy: RetryPolicy | None = None,
                 clock: Clock | None = None, timeout: float = 10.0,
                 page_sizes: dict[str, int] | None = None):
        if not api_key:
            raise ApiError(f"{API} needs an API key: set {KEY_HINT}", api=API)
        self.base = (base or unusual_whales_base()).rstrip("/")
        self.limiter, self.policy = limiter, policy or RetryPolicy()
        self.clock, self.timeout = clock or SystemClock(), timeout
        self._secrets = (api_key,)
        self._http = httpx.Client(base_url=self.base, timeout=timeout, headers={
            "Authorization": f"Bearer {api_key}", "Accept": "application/json"})
        self.page_sizes = {**PAGE_SIZES, **(page_sizes or {})}
        #: HTTP requests sent (retries and pages included)
        self.requests = 0

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ transport
    def _say(self, text: str) -> str:
        return redact(text, self._secrets)

    def get(self, path: str, params: dict | None = None):
        """The ``data`` of ``GET path`` (module doc for retries and errors)."""
        params = {k: v for k, v in (params or {}).items() if v is not None}
        where = self._say(str(httpx.URL(path, params=params)))

        def attempt() -> httpx.Response:
            if self.limiter is not None:
                self.limiter.acquire()
            self.requests += 1
            log.debug("%s GET %s", API, where)
            try:
                response = self._http.get(path, params=params)
            except httpx.TimeoutException as exc:
                raise Transient(f"no answer within {self.timeout:g} s") from exc
            except httpx.TransportError as exc:
                raise Transient(f"connection failed ({type(exc).__name__})") from exc
            if response.status_code in RETRY_STATUSES:
                raise Transient(_message(response), response.status_code,
                                parse_retry_after(response.headers.get("Retry-After"),
                                                  self.clock.time()))
            return response

        response = call_with_retries(attempt, self.policy, self.clock,
                                     lambda exc, n: self._gave_up(exc, n, where), self._say)
        if response.status_code != 200:
            raise self._refused(response, where)
        try:
            body = response.json()
        except ValueError:
            raise ApiError(self._say(f"{API} answered GET {where} with a body that is not JSON "
                                     f"({response.text[:80]!r}); the data was not used"),
                           api=API, status=200) from None
        data = body.get("data") if isinstance(body, dict) else body
        if not isinstance(data, (list, dict)):
            raise ApiError(self._say(f"{API} answered GET {where} without a 'data' list: "
                                     f"{str(body)[:80]!r}"), api=API, status=200)
        return data

    def get_rows(self, path: str, params: dict | None = None) -> list[dict]:
        """The ``data`` of a list endpoint, which must be a list of objects: anything else
        (an object, a list of numbers) is an ``ApiError`` naming the request, not a crash
        deep in the feature code."""
        data = self.get(path, params)
        bad = (data if not isinstance(data, list)
               else next((r for r in data if not isinstance(r, dict)), None))
        if bad is not None:
            where = self._say(str(httpx.URL(path, params=params or {})))
            raise ApiError(self._say(f"{API} answered GET {where} with {str(bad)[:80]!r} "
                                     "where a list of rows belongs; the data was not used"),
                           api=API, status=200)
        return data

    def _gave_up(self, exc: Transient, attempts: int, where: str) -> ApiError:
        tried = f"after {attempts} attempt{'s' if attempts != 1 else ''}"
        limit = self.limiter.describe() if self.limiter is not None else "no client-side limit"
        if exc.status == 429:
            text = (f"{API} rate limit: HTTP 429 on GET {where} {tried} "
                    f"({waited_as_told(exc, self.policy)}): {exc.reason}. This client sends "
                    f"at most {limit}; "
                    f"lower {RATE_ENV} to your plan's requests per minute, or wait and run "
                    "again (what was fetched is cached)")
        elif exc.status is not None:
            text = (f"{API} server error HTTP {exc.status} on GET {where} {tried}: "
                    f"{exc.reason}; try again later (what was fetched is cached)")
        else:
            text = (f"{API} request failed: GET {where}: {exc.reason} {tried}; check "
                    f"{BASE_ENV} and the network")
        return ApiError(self._say(text), api=API, status=exc.status)

    def _refused(self, response: httpx.Response, where: str) -> ApiError:
        status, message = response.status_code, _message(response)
        if status == 401:
            text = f"{API} refused the API key (HTTP 401: {message}): check {KEY_HINT}"
        elif status == 403:
            text = (f"{API}: the plan of this API key does not cover GET {where} (HTTP 403: "
                    f"{message}); check the plan's endpoints and history lookback")
        elif status in (404, 422):
            text = (f"{API} has no data for GET {where} (HTTP {status}: {message}): unknown "
                    "ticker or invalid date?")
        else:
            text = f"{API} rejected GET {where} (HTTP {status}: {message})"
        return ApiError(self._say(text), api=API, status=status)

    # ------------------------------------------------------------------ paging
    def _paged(self, path: str, params: dict, limit: int, stamp: str) -> list[dict]:
        """All rows of a cursor-less list, walking back with ``older_than`` (epoch ms).

        Rows share timestamps (dark-pool prints are stamped to the second, a block split
        into several prints): ``older_than`` set to the oldest row of a page would skip
        the rows of that instant the page had no room for. So the next page is asked from
        just after the oldest row's millisecond, and the rows of that millisecond it sends
        again (the page before had them) are dropped, one for one."""
        rows: list[dict] = []
        params = {**params, "limit": limit}
        seen: list[str] = []  # the rows of the last page at its boundary, as JSON
        for _ in range(MAX_PAGES):
            page = self.get_rows(path, params)
            again = list(seen)
            for row in page:
                text = _row_key(row)
                if text in again:
                    again.remove(text)
                else:
                    rows.append(row)
            if len(page) < limit:
                return rows
            stamps = [_epoch_ms(r.get(stamp)) for r in page]
            known = [s for s in stamps if s is not None]
            if not known:
                raise ApiError(f"{API}: paging {path} with older_than: a full page without "
                               f"a {stamp!r} timestamp", api=API)
            boundary = min(known)
            older_than = boundary + 1
            if older_than >= params.get("older_than", older_than + 1):
                raise ApiError(f"{API}: paging {path} with older_than did not move back in "
                               f"time (more than {limit} rows within one millisecond at "
                               f"{pd.Timestamp(boundary, unit='ms', tz='UTC')})", api=API)
            seen = [_row_key(r) for r, s in zip(page, stamps, strict=True)
                    if s is not None and s <= older_than]
            params["older_than"] = older_than
        raise ApiError(f"{API}: {path} still had more rows after {MAX_PAGES} pages", api=API)

    # ------------------------------------------------------------------ endpoints
    def flow_alerts(self, ticker: str, newer_than: pd.Timestamp,
                    older_than: pd.Timestamp) -> pd.DataFrame:
        """Flow alerts on ``ticker`` created in [newer_than, older_than)."""
        rows = self._paged("/api/option-trades/flow-alerts", {
            "ticker_symbol": ticker, "newer_than": int(newer_than.value // 1_000_000),
            "older_than": int(older_than.value // 1_000_000)}, self.page_sizes["flow-alerts"],
            "created_at")
        return rows_frame(rows, ("total_premium", "total_size", "volume", "open_interest",
                                 "price", "strike", "underlying_price", "volume_oi_ratio"),
                          ("created_at",), ("type", "option_chain", "alert_rule"),
                          path="/api/option-trades/flow-alerts")

    def darkpool(self, ticker: str, date) -> pd.DataFrame:
        """Every dark-pool print of ``ticker`` on ``date``."""
        rows = self._paged(f"/api/darkpool/{ticker}", {"date": f"{pd.Timestamp(date):%Y-%m-%d}"},
                           self.page_sizes["darkpool"], "executed_at")
        frame = rows_frame(rows, ("price", "size", "premium", "volume"), ("executed_at",),
                           path=f"/api/darkpool/{ticker}")
        frame["canceled"] = [bool(r.get("canceled")) for r in rows]
        return frame

    def options_volume(self, ticker: str, limit: int | None = None) -> pd.DataFrame:
        """Daily options volume and premium of ``ticker``, the last ``limit`` trading days
        (default: the most one request gives)."""
        rows = self.get_rows(f"/api/stock/{ticker}/options-volume",
                        {"limit": limit or self.page_sizes["options-volume"]})
        frame = rows_frame(rows, ("call_volume", "put_volume", "call_premium", "put_premium",
                                  "bullish_premium", "bearish_premium", "call_open_interest",
                                  "put_open_interest", "net_call_premium", "net_put_premium"))
        frame.insert(0, "date", self._dates(rows, "date", f"/api/stock/{ticker}/options-volume"))
        return frame.sort_values("date").reset_index(drop=True)

    def insider_buy_sells(self, ticker: str) -> pd.DataFrame:
        """Insider purchases and sales of ``ticker`` aggregated by filing date."""
        rows = self.get_rows(f"/api/stock/{ticker}/insider-buy-sells")
        frame = rows_frame(rows, ("purchases", "purchases_notional", "sells", "sells_notional"))
        frame.insert(0, "filing_date", self._dates(rows, "filing_date",
                                                   f"/api/stock/{ticker}/insider-buy-sells"))
        return frame.sort_values("filing_date").reset_index(drop=True)

    def _dates(self, rows: list[dict], name: str, path: str) -> pd.DatetimeIndex:
        """The ``YYYY-MM-DD`` field ``name`` of every row; a row without a readable one is
        an ``ApiError`` (a day's numbers without their day cannot be placed)."""
        dates = pd.to_datetime([r.get(name) for r in rows], errors="coerce", format="%Y-%m-%d")
        bad = np.flatnonzero(pd.isna(dates))
        if len(bad):
            raise ApiError(self._say(f"{API} answered GET {path} with a row whose {name} is "
                                     f"{rows[bad[0]].get(name)!r}, not a date; the data was "
                                     "not used"), api=API, status=200)
        return pd.DatetimeIndex(dates)

    def market_tide(self, date) -> pd.DataFrame:
        """Market-wide net call/put premium through ``date`` (cumulative, 5-minute steps)."""
        rows = self.get_rows("/api/market/market-tide", {"date": f"{pd.Timestamp(date):%Y-%m-%d}",
                                                    "interval_5m": "true"})
        frame = rows_frame(rows, ("net_call_premium", "net_put_premium", "net_volume"),
                           ("timestamp",), path="/api/market/market-tide")
        return frame.sort_values("timestamp").reset_index(drop=True)


def _epoch_ms(value) -> int | None:
    """A row's timestamp in whole epoch milliseconds (floored), None when absent."""
    stamp = to_timestamp(value)
    return None if stamp is None else int(stamp.value // 1_000_000)


def _row_key(row: dict) -> str:
    """A row's identity for dropping the rows a page sends again."""
    return json.dumps(row, sort_keys=True, default=str)


def _message(response: httpx.Response, limit: int = 200) -> str:
    """The server's own words: ``msg``, ``message`` or ``error``, else the body's start."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for name in ("msg", "message", "error"):
            if isinstance(body.get(name), str):
                return body[name][:limit]
    if isinstance(body, str):
        return body[:limit]
    return " ".join(response.text.split())[:limit] or "(empty body)"

