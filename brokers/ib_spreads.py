"""Credit spreads on IB: legs from IB's chain and quotes, one BAG combo, per-leg fill math.

Leg choice follows the same rule as the simulated broker (``spread_pricing.choose_expiry``
and ``resolve_legs``), applied to what IB says on the request bar:

1. expirations and strikes from ``reqSecDefOptParams`` (the SMART row);
2. the expiry with days to expiry in the window closest to its middle (days counted from
   the bar's date, as in backtests);
3. candidate short strikes ranked by a Black-Scholes delta from a volatility estimate
   (the feed's ``atm_iv`` when it has one, else 20-bar realized volatility x 1.15), so only
   a handful of contracts are qualified and quoted (a strike IB lists for another
   expiration only is left out); the window widens while the best market delta sits on
   its edge;
4. IB's model delta (tick 13) of each candidate picks the short leg exactly as in
   backtests; the long leg is ``width`` further out of the money.

The order is one BAG: legs BUY short-strike / SELL long-strike (the debit spread), and the
combo is SOLD at a positive net credit limit to open (IB's sign rule: selling a spread for
cash is a positive price), BOUGHT back at a positive debit limit to close. Combo legs are
guaranteed (no NonGuaranteed tag) so IB never legs into a naked short. Fills arrive per
leg (plus the combo's own execution, which is ignored for money): ``ComboFills`` turns the
leg executions into filled combo units and a per-share net price, counting each leg once.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from ib_async import ComboLeg, Contract, Option, Stock

from brokers import spread_pricing as sp
from brokers.bar_times import exchange_date
from brokers.ib_store import IBStore
from brokers.spreads import SpreadLeg, SpreadRequest
from core.domain import TRADING_DAYS
from pricing.black_scholes import black_scholes_greeks

_EPS = 1e-9


def vol_estimate(data) -> float:
    """The feed's ``atm_iv`` when known, else 20-bar realized volatility x 1.15."""
    atm = getattr(data.lines, "atm_iv", None)
    if atm is not None and len(atm) and math.isfinite(atm[0]) and atm[0] > 0:
        return float(atm[0])
    closes = np.array([data.close[-i] for i in range(min(len(data), 21))][::-1], dtype=float)
    if len(closes) > 5 and np.all(closes > 0):
        vol = float(np.std(np.diff(np.log(closes)), ddof=1) * math.sqrt(TRADING_DAYS) * 1.15)
        if math.isfinite(vol) and vol > 0.01:
            return vol
    return 0.25


def occ(contract: Contract) -> str:
    """OCC symbol without padding, as the chains of the backtests write it."""
    return contract.localSymbol.replace(" ", "") if contract.localSymbol else (
        f"{contract.symbol}{contract.lastTradeDateOrContractMonth[2:]}{contract.right}"
        f"{int(round(contract.strike * 1000)):08d}")


@dataclass
class ResolvedSpread:
    short: SpreadLeg
    long: SpreadLeg
    short_contract: Contract
    long_contract: Contract
    short_quote: sp.Quote
    long_quote: sp.Quote

    @property
    def natural_credit(self) -> float:
        return self.short_quote.bid - self.long_quote.ask

    @property
    def mid_credit(self) -> float:
        return self.short_quote.mid - self.long_quote.mid


class SpreadResolver:
    """Resolves ``SpreadRequest``s against IB; caches qualified contracts per session."""

    def __init__(self, store: IBStore, exchange: str = "SMART", candidates: int = 6):
        self.store = store
        self.exchange = exchange
        self.candidates = candidates
        self._underlyings: dict[str, Contract] = {}
        self._chains: dict[tuple[str, dt.date], tuple[list[str], list[float]]] = {}
        self._options: dict[tuple, Contract] = {}
        #: (symbol, expiry, strike, right) IB has no contract for
        self._unlisted: set[tuple] = set()

    def underlying(self, symbol: str) -> Contract:
        if symbol not in self._underlyings:
            self._underlyings[symbol] = self.store.qualify(Stock(symbol, "SMART", "USD"))[0]
        return self._underlyings[symbol]

    def options(self, symbol: str, expiry: str, strikes: list[float],
                right: str) -> list[Contract]:
        wanted = [(symbol, expiry, float(k), right) for k in strikes]
        todo = [Option(s, e, k, r, self.exchange, currency="USD") for s, e, k, r in wanted
                if (s, e, k, r) not in self._options]
        if todo:
            for c in self.store.qualify(*todo):
                self._options[(c.symbol, c.lastTradeDateOrContractMonth, float(c.strike),
                               c.right)] = c
        return [self._options[w] for w in wanted]

    def listed(self, symbol: str, expiry: str, strikes: list[float],
               right: str) -> list[Contract]:
        """The contracts of ``strikes`` that IB lists for ``expiry``. reqSecDefOptParams
        gives one strike list for all expirations, so a strike of it need not exist for
        this one (IB answers error 200); those are left out and remembered, as the
        backtests' chain of that expiry does not list them."""
        wanted = [(symbol, expiry, float(k), right) for k in strikes]
        todo = [w for w in wanted if w not in self._options and w not in self._unlisted]
        if todo:
            found = self.store.qualify(*[Option(s, e, k, r, self.exchange, currency="USD")
                                         for s, e, k, r in todo], missing_ok=True)
            for w, c in zip(todo, found, strict=True):
                if c is None:
                    self._unlisted.add(w)
                else:
                    self._options[(c.symbol, c.lastTradeDateOrContractMonth, float(c.strike),
                                   c.right)] = c
        return [self._options[w] for w in wanted if w in self._options]

    def quotes(self, contracts: list[Contract]) -> list[dict]:
        snaps = self.store.snapshots(contracts)
        for c, q in zip(contracts, snaps, strict=True):
            if q["bid"] is None or q["ask"] is None or q["bid"] < 0 or q["ask"] <= 0:
                raise sp.SpreadRejected(f"no bid/ask from IB for {occ(c)}")
        return snaps

    def resolve(self, data, request: SpreadRequest) -> ResolvedSpread:
        """Pick both legs by the backtests' rule from IB's chain and quotes; days to
        expiry count from the bar's New York date (the session's), whatever the display
        zone."""
        symbol, right, day = request.underlying, request.right, exchange_date(data)
        spot = float(data.close[0])
        under = self.underlying(symbol)
        key = (symbol, day)
        if key not in self._chains:
            self._chains[key] = self.store.option_chain(symbol, under.conId)
        expirations, strikes = self._chains[key]
        expiries = pd.DatetimeIndex(pd.to_datetime(expirations, format="%Y%m%d"))
        listed = pd.DataFrame({"expiry": expiries,
                               "dte": (expiries - pd.Timestamp(day)).days})
        expiry = sp.choose_expiry(listed[listed["dte"] >= 0], request.dte_min, request.dte_max)
        grid = np.array(sorted(strikes), dtype=float)
        step = float(np.min(np.diff(grid))) if len(grid) > 1 else np.inf
        if request.width < step - _EPS:
            raise sp.SpreadRejected(f"width {request.width:g} is below the strike grid step "
                                    f"{step:g}")
        years = max((expiry.date() - day).days, 0.5) / 365.0
        frame = self._candidate_frame(symbol, expiry, grid, right, spot, years, data, request,
                                      day)
        short, long = sp.resolve_legs(frame, request, spot)
        by_symbol = frame.set_index("symbol")
        quote = {s: sp.Quote(float(by_symbol.at[s, "bid"]), float(by_symbol.at[s, "ask"]),
                             float(by_symbol.at[s, "mid"])) for s in (short.symbol, long.symbol)}
        contracts = {occ(c): c for c in self._options.values()}
        return ResolvedSpread(short, long, contracts[short.symbol], contracts[long.symbol],
                              quote[short.symbol], quote[long.symbol])

    def _candidate_frame(self, symbol, expiry, grid, right, spot, years, data,
                         request: SpreadRequest, day: dt.date) -> pd.DataFrame:
        if request.otm_pct is not None:
            target = spot * (1.0 + (-1.0 if right == "P" else 1.0) * request.otm_pct)
            distance = np.abs(grid - target)
        else:
            vol = vol_estimate(data)
            deltas = black_scholes_greeks(spot, grid, years, 0.0, vol, right == "C")["delta"]
            distance = np.abs(np.abs(np.asarray(deltas, dtype=float)) - request.target_delta)
        order = np.argsort(distance, kind="stable")
        n = min(self.candidates, len(grid))
        rows: dict[float, dict] = {}
        for _ in range(4):
            chosen = np.sort(grid[order[:n]])
            partners = chosen + (-request.width if right == "P" else request.width)
            wanted = sorted({float(k) for k in np.concatenate([chosen, partners])
                             if np.any(np.abs(grid - k) < _EPS)} - set(rows))
            contracts = self.listed(symbol, f"{expiry:%Y%m%d}", wanted, right) if wanted \
                else []
            if contracts:
                for c, q in zip(contracts, self.quotes(contracts), strict=True):
                    delta = q["delta"]
                    if delta is None or not math.isfinite(delta):
                        delta = float(black_scholes_greeks(spot, c.strike, years, 0.0,
                                                           vol_estimate(data),
                                                           right == "C")["delta"])
                    rows[float(c.strike)] = {
                        "symbol": occ(c), "expiry": expiry, "dte": (expiry.date() - day).days,
                        "strike": float(c.strike), "right": right, "bid": q["bid"],
                        "ask": q["ask"], "mid": 0.5 * (q["bid"] + q["ask"]), "delta": delta}
            present = [float(k) for k in chosen if float(k) in rows]  # listed for expiry
            if request.otm_pct is not None or n >= len(grid):
                break
            if present:
                best = min(present, key=lambda k: abs(abs(rows[k]["delta"])
                                                      - request.target_delta))
                if best not in (min(present), max(present)):
                    break
            n = min(2 * n, len(grid))
        if not rows:
            raise sp.SpreadRejected(f"IB lists none of the candidate strikes for "
                                    f"{expiry:%Y-%m-%d}")
        return pd.DataFrame(sorted(rows.values(), key=lambda r: r["strike"]))


def combo(symbol: str, short: Contract, long: Contract, exchange: str = "SMART") -> Contract:
    """The BAG of a vertical: legs BUY the short strike, SELL the long strike (relative to a
    BUY of the combo), so SELL opens the credit spread and BUY closes it. Never qualified."""
    return Contract(secType="BAG", symbol=symbol, exchange=exchange, currency="USD",
                    comboLegs=[ComboLeg(conId=short.conId, ratio=1, action="BUY",
                                        exchange=exchange),
                               ComboLeg(conId=long.conId, ratio=1, action="SELL",
                                        exchange=exchange)])


@dataclass
class ComboFills:
    """Leg executions of one combo order, each counted once (by execId)."""

    short_con_id: int
    long_con_id: int
    legs: dict[int, list[tuple[str, float, float, float]]] = field(default_factory=dict)
    exec_ids: set[str] = field(default_factory=set)
    #: where each execution's row is in ``legs`` (conId, index), for ``replace``
    rows: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: execution times (UTC) of the first and the latest leg fill: a spread opens (closes)
    #: on the exchange date of its fills, not on the bar that is current when they arrive
    first_at: dt.datetime | None = None
    last_at: dt.datetime | None = None

    def add(self, exec_id: str, con_id: int, side: str, shares: float, price: float,
            commission: float, when: dt.datetime | None = None) -> bool:
        if exec_id in self.exec_ids or con_id not in (self.short_con_id, self.long_con_id):
            return False
        self.exec_ids.add(exec_id)
        rows = self.legs.setdefault(con_id, [])
        self.rows[exec_id] = (con_id, len(rows))
        rows.append((side, shares, price, commission))
        if when is not None:
            self.first_at = when if self.first_at is None else min(self.first_at, when)
            self.last_at = when if self.last_at is None else max(self.last_at, when)
        return True

    def replace(self, old_exec_id: str, exec_id: str, con_id: int, side: str, shares: float,
                price: float, commission: float, when: dt.datetime | None = None) -> None:
        """Execution ``exec_id`` is a correction of ``old_exec_id``: it takes the earlier
        one's place (its shares, price and commission no longer count). Also when the
        fills were rebuilt from a journal that already holds the correction only."""
        where = self.rows.pop(old_exec_id, None)
        if where is not None:
            self.exec_ids.discard(old_exec_id)
            leg, index = where
            if exec_id not in self.exec_ids and leg == con_id:
                self.legs[leg][index] = (side, shares, price, commission)
                self.exec_ids.add(exec_id)
                self.rows[exec_id] = where
                return
            self.legs[leg][index] = (side, 0.0, 0.0, 0.0)  # the old row counts for nothing
        self.add(exec_id, con_id, side, shares, price, commission, when)

    def _shares(self, con_id: int) -> float:
        return sum(s for _, s, _, _ in self.legs.get(con_id, []))

    def _avg(self, con_id: int) -> float:
        rows = self.legs.get(con_id, [])
        total = sum(s for _, s, _, _ in rows)
        return sum(s * p for _, s, p, _ in rows) / total if total else 0.0

    @property
    def units(self) -> int:
        """Whole spreads filled: both legs must have filled that many contracts."""
        return int(min(self._shares(self.short_con_id), self._shares(self.long_con_id)) + _EPS)

    @property
    def net_price(self) -> float:
        """Per share: short leg's average price minus long leg's (credit when opening,
        debit when closing)."""
        return self._avg(self.short_con_id) - self._avg(self.long_con_id)

    @property
    def commission(self) -> float:
        return sum(c for rows in self.legs.values() for _, _, _, c in rows)
