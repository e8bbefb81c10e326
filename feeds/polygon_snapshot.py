"""The live option chain of an underlying, from Polygon's chain snapshot
(``/v3/snapshot/options/{underlying}``), for pre-market and live use; never cached.

Same columns as the backtest chains (``feeds.chain.CHAIN_COLUMNS``) plus ``quoted`` (bid and
ask are the exchange quote) and ``updated`` (New York time of the quote or trade):

* bid/ask: ``last_quote`` when the plan includes quotes; otherwise the day's close with the
  stated spread model of ``feeds.polygon_options``;
* ``mid``: the quote's midpoint, else the close;
* ``iv`` and greeks: Polygon's when it sends them (it leaves them out, e.g. deep in the money);
  otherwise inverted from ``mid`` by ``pricing.implied_vol`` with the Treasury rate. Polygon's
  ``theta`` is per day and ``vega`` per volatility point, as in our chains.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.errors import DataError
from feeds.chain import CHAIN_COLUMNS
from feeds.polygon_aggs import NY
from feeds.polygon_fed import RateCurve
from feeds.polygon_options import quote_spread
from pricing.black_scholes import black_scholes_greeks
from pricing.implied_vol import implied_volatility

#: Polygon's largest page for the chain snapshot
SNAPSHOT_LIMIT = 250


def _get(obj, name, default=np.nan):
    value = getattr(obj, name, None) if obj is not None else None
    return default if value is None else value


def chain_snapshot(client, underlying: str, rates: RateCurve, today: pd.Timestamp, *,
                   dte_min: int | None = None, dte_max: int | None = None,
                   strike_min: float | None = None, strike_max: float | None = None,
                   contract_type: str | None = None) -> pd.DataFrame:
    """Every contract of the snapshot within the filters, one row each (module doc)."""
    today = pd.Timestamp(today).normalize()
    params: dict = {"limit": SNAPSHOT_LIMIT}
    if dte_min is not None:
        params["expiration_date.gte"] = f"{today + pd.Timedelta(days=dte_min):%Y-%m-%d}"
    if dte_max is not None:
        params["expiration_date.lte"] = f"{today + pd.Timedelta(days=dte_max):%Y-%m-%d}"
    if strike_min is not None:
        params["strike_price.gte"] = strike_min
    if strike_max is not None:
        params["strike_price.lte"] = strike_max
    if contract_type is not None:
        params["contract_type"] = contract_type
    rows = list(client.list_snapshot_options_chain(underlying, params=params))
    if not rows:
        raise DataError(f"Polygon's chain snapshot of {underlying} is empty for {params}")
    details = [r.details for r in rows]
    quote = [r.last_quote for r in rows]
    day = [r.day for r in rows]
    expiry = pd.to_datetime([_get(d, "expiration_date", None) for d in details])
    strike = np.array([_get(d, "strike_price") for d in details], dtype=float)
    is_call = np.array([_get(d, "contract_type", "") == "call" for d in details])
    spot = np.array([_get(r.underlying_asset, "price") for r in rows], dtype=float)
    close = np.array([_get(d, "close") for d in day], dtype=float)
    bid = np.array([_get(q, "bid") for q in quote], dtype=float)
    ask = np.array([_get(q, "ask") for q in quote], dtype=float)
    quoted = np.isfinite(bid) & np.isfinite(ask) & (ask >= bid) & (ask > 0)
    model_bid, model_ask = quote_spread(close)
    mid = np.where(quoted, 0.5 * (bid + ask), close)
    bid, ask = np.where(quoted, bid, model_bid), np.where(quoted, ask, model_ask)
    years = np.maximum((expiry - today).days.to_numpy(dtype=float), 0.5) / 365.0
    rate = rates.rate(today, years)
    iv = np.array([_get(r, "implied_volatility") for r in rows], dtype=float)
    iv = np.where(np.isfinite(iv), iv,
                  implied_volatility(mid, spot, strike, years, rate, is_call))
    computed = black_scholes_greeks(spot, strike, years, rate, iv, is_call)
    greeks = {}
    for name in ("delta", "gamma", "theta", "vega"):
        sent = np.array([_get(r.greeks, name) for r in rows], dtype=float)
        greeks[name] = np.where(np.isfinite(sent), sent, computed[name])
    updated = [_get(q, "last_updated", None) or _get(d, "last_updated", None)
               for q, d in zip(quote, day, strict=True)]
    frame = pd.DataFrame({
        "symbol": [str(_get(d, "ticker", "")).removeprefix("O:") for d in details],
        "expiry": expiry, "dte": (expiry - today).days.astype(int), "strike": strike,
        "right": np.where(is_call, "C", "P"), "bid": bid, "ask": ask, "mid": mid, "iv": iv,
        **greeks,
        "volume": np.array([_get(d, "volume") for d in day], dtype=float),
        "open_interest": np.array([_get(r, "open_interest") for r in rows], dtype=float),
        "underlying": spot,
        "quoted": quoted,
        "updated": pd.to_datetime(pd.Series(updated, dtype="float64"), unit="ns", utc=True)
        .dt.tz_convert(NY).dt.tz_localize(None),
    })
    frame = frame.loc[:, [*CHAIN_COLUMNS, "quoted", "updated"]]
    return frame.sort_values(["expiry", "right", "strike"]).reset_index(drop=True)
