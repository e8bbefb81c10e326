"""Strategy labels: what each credit spread actually earned, traded by the strategy's rules.

For bar t the label says what a trader acting on t's close should have done: sell a put
credit spread (2), sell a call credit spread (1), or hold (0). Each of the two spreads is
traded exactly as ``strategies.CreditSpreadStrategy`` on the simulated broker trades it,
with the broker's own pricing (``brokers.spread_pricing``):

* legs chosen from t's chain (short leg near ``target_delta``, ``width`` further out, the
  expiry in the DTE window), sold at bar t + 1's quotes by the fill rule;
* on every later bar the spread is marked at mid; when the mark has kept
  ``profit_take`` of the credit (mark <= (1 - profit_take) x credit), reached
  ``stop_multiple`` x credit, or the expiry is ``close_days_before_expiry`` calendar days
  away, the strategy asks to close and the broker buys it back on the next bar at that
  bar's quotes by the fill rule, for at most the width a share (the broker's cap: wide
  quotes of two legs deep in the money can put the natural debit above it);
* a spread still open on the first bar dated on or after its expiry's last session (the
  expiry, or the session before an expiry dated on a closed day: a Saturday, Good Friday)
  is cash-settled at intrinsic value from that session's close, or the last close before it
  when the data lacks it (and a pending close is then void);
* commissions as the broker charges them: ``commission_per_contract`` x 2 legs on the
  opening and on the closing order, none at expiry.

The result is the realized return on risk of one contract,
``(credit - debit - commissions per share) / (width - credit)``. The label sells the side
with the higher return when that return beats ``min_edge`` (0: positive after costs), else
holds. A spread the broker would refuse (no expiry in the window, non-positive credit)
earns nothing (NaN return, never the label).

The label reads bars t + 1 .. the exit bar of both spreads: the future, by definition.
``label_end`` is the later of the two exit bars (the label compares both), so training can
purge every sample whose label reaches into the period it is validated or tested on; a
label whose spreads have not exited by the last bar is unknown (NaN).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm import tqdm

from brokers import spread_pricing as sp
from brokers.spreads import SpreadRequest
from core.domain import CALL_CREDIT_SPREAD, HOLD, MULTIPLIER, PUT_CREDIT_SPREAD
from feeds.calendar import last_session
from models.config import refuse_values
from pricing.contracts import default_width

_EPS = 1e-9


@dataclass(frozen=True)
class LabelConfig:
    """How labels are traded: the defaults are ``strategies.CreditSpreadConfig``'s and the
    simulated broker's (a test keeps them equal)."""

    #: |delta| of the short leg
    target_delta: float = 0.30
    #: strike width; None = one strike step, at least $5 (as the strategy)
    width: float | None = None
    #: days-to-expiry window of the expiry
    dte_min: int = 30
    dte_max: int = 45
    #: close when the mark has lost this share of the credit (None: never)
    profit_take: float | None = 0.50
    #: close when the mark reaches this multiple of the credit (None: never)
    stop_multiple: float | None = 2.0
    #: close this many calendar days before expiry (0: hold to expiry settlement)
    close_days_before_expiry: int = 5
    #: close after this many sessions from the fill whatever happens (None: no limit);
    #: with no take, no stop and no time exit this is the old fixed-horizon label
    max_hold: int | None = None
    #: return on risk after costs a spread must beat to be worth selling
    min_edge: float = 0.0
    #: broker fill rule, "natural" or "mid"
    fill: str = "natural"
    #: slippage per share for mid fills
    slippage: float = 0.0
    #: dollars per contract per leg on every opening and closing order (broker default)
    commission_per_contract: float = 0.65

    def __post_init__(self):
        """The strategy's own rules (``strategies.credit_spread``) where the fields are
        the same: a label no spread could be traded by is refused, not a one-class
        training set."""
        refuse_values("labels", self, [
            ("target_delta", 0 < self.target_delta < 1, "between 0 and 1"),
            ("width", self.width is None or self.width > 0, "positive (or none)"),
            ("dte_min", 0 <= self.dte_min <= self.dte_max, f"from 0 to dte_max={self.dte_max}"),
            ("dte_max", self.dte_max >= 1, "1 or more"),
            ("profit_take", self.profit_take is None or 0 < self.profit_take <= 1,
             "above 0 and at most 1 (or none)"),
            ("stop_multiple", self.stop_multiple is None or self.stop_multiple > 1,
             "above 1 (or none)"),
            ("close_days_before_expiry",
             0 <= self.close_days_before_expiry < max(self.dte_max, 1),
             f"0 or more and below dte_max={self.dte_max} (every labelled spread would be "
             "bought back at once)"),
            ("max_hold", self.max_hold is None or self.max_hold >= 1, "1 or more (or none)"),
            ("fill", self.fill in ("natural", "mid"), "natural or mid"),
            ("slippage", self.slippage >= 0, "0 or more"),
            ("commission_per_contract", self.commission_per_contract >= 0, "0 or more"),
        ])


def fixed_horizon_config(horizon: int = 10, min_edge: float = 0.05) -> LabelConfig:
    """The first label of this project: hold every spread ``horizon`` sessions after the
    fill (no profit take, no stop, no time exit) and sell only a return above 5 %."""
    return LabelConfig(profit_take=None, stop_multiple=None, close_days_before_expiry=0,
                       max_hold=horizon, min_edge=min_edge, commission_per_contract=0.0)


@dataclass(frozen=True)
class SpreadOutcome:
    """One spread traded by the rules: return on risk, the bar it left the book, why."""

    return_on_risk: float
    exit_index: int
    reason: str


def _exit_reason(mark: float, credit: float, dte: int, held: int, cfg: LabelConfig) -> str:
    """The strategy's exit test of one bar, in its order (``CreditSpreadStrategy``)."""
    if cfg.profit_take is not None and mark <= (1.0 - cfg.profit_take) * credit:
        return "profit_take"
    if cfg.stop_multiple is not None and mark >= cfg.stop_multiple * credit:
        return "stop_loss"
    if cfg.close_days_before_expiry and dte <= cfg.close_days_before_expiry:
        return "time_exit"
    if cfg.max_hold is not None and held >= cfg.max_hold:
        return "max_hold"
    return ""


def spread_outcome(chain, days: pd.DatetimeIndex, t: int, kind: str,
                   cfg: LabelConfig) -> SpreadOutcome | None:
    """Trade ``kind`` on bar t's signal by the strategy's rules. None while the spread has
    not left the book by the last bar; NaN return (exit at the fill bar) when the broker
    would refuse it."""
    fill_i = t + 1
    if fill_i >= len(days):
        return None
    spot = _spot(chain, days[t])
    width = cfg.width or default_width(spot)
    request = SpreadRequest(underlying=chain.symbol, kind=kind, target_delta=cfg.target_delta,
                            width=width, dte_min=cfg.dte_min, dte_max=cfg.dte_max)
    refused = SpreadOutcome(np.nan, fill_i, "refused")
    try:
        short, long = sp.resolve_on_chain(chain, days[t], request)
    except sp.SpreadRejected:
        return refused
    # an expiry dated on a day the exchange is closed (a Saturday, Good Friday) settles
    # from the close of its last session before it, as the broker settles it
    settles = last_session(short.expiry)
    if settles <= days[fill_i].date():
        return refused
    # the bars the spread is quoted on: from the fill to the last bar before it settles
    expiry = np.datetime64(short.expiry, "D")
    settle_i = fill_i + 1 + int(np.searchsorted(days[fill_i + 1:].values.astype("datetime64[D]"),
                                                np.datetime64(settles, "D")))
    life = days[fill_i:settle_i]
    shorts, longs = _life_quotes(chain, life, short, long)
    credit = sp.open_credit(shorts[0], longs[0], cfg.fill, cfg.slippage)
    if credit <= _EPS or width - credit <= _EPS:
        return refused
    per_order = cfg.commission_per_contract * 2 / MULTIPLIER  # per share, one contract
    reasons = _exit_reasons(np.array([sp.mark(a, b) for a, b in zip(shorts, longs,
                                                                        strict=True)]),
                            credit, (expiry - life.values.astype("datetime64[D]")).astype(int),
                            cfg)
    asked = np.flatnonzero(reasons != "")
    if len(asked) and asked[0] + 1 < len(life):  # bought back on the bar after the ask
        k = int(asked[0]) + 1
        # at most the width, as the broker pays (a vertical is never bought back for more)
        debit = sp.close_debit(shorts[k], longs[k], cfg.fill, cfg.slippage,
                               abs(short.strike - long.strike))
        return SpreadOutcome((credit - debit - 2 * per_order) / (width - credit), fill_i + k,
                             str(reasons[asked[0]]))
    if settle_i < len(days):  # settles at expiry, before a close asked on its eve
        # from the close of the settlement session, or of the last bar before it when the
        # data lacks that session (never a close dated after the expiry)
        on_time = days[settle_i].date() == settles
        spot = float(chain.bars["close"].iloc[settle_i if on_time else settle_i - 1])
        debit = sp.settlement(spot, short, long)
        return SpreadOutcome((credit - debit - per_order) / (width - credit), settle_i,
                             "expiry")
    return None


def _spot(chain, day) -> float:
    spot = getattr(chain, "spot", None)
    if spot is not None:
        return float(spot(day))
    return float(chain.chain(day)["underlying"].iloc[0])


def _life_quotes(chain, days: pd.DatetimeIndex, short, long) -> tuple[list, list]:
    """Both legs' quotes on each of ``days`` (consecutive sessions from the fill): the
    broker's table of the spread's life (``brokers.spread_pricing.LifeQuotes``, one chain
    call for both legs) where the chain has one, else one quote per leg and day (the same
    numbers)."""
    life = sp.life_quotes(chain, days[0], short, long)
    if life is None:
        return ([sp.leg_quote(chain, day, short) for day in days],
                [sp.leg_quote(chain, day, long) for day in days])
    pairs = [life.get(day) for day in days.date]
    return [pair[0] for pair in pairs], [pair[1] for pair in pairs]


def _exit_reasons(marks: np.ndarray, credit: float, dte: np.ndarray,
                  cfg: LabelConfig) -> np.ndarray:
    """``_exit_reason`` of every bar of a spread's life at once (held = 1 on the fill bar)."""
    held = np.arange(1, len(marks) + 1)
    reasons = np.full(len(marks), "", dtype=object)
    rules = [("max_hold", cfg.max_hold is not None
              and held >= (cfg.max_hold if cfg.max_hold is not None else 0)),
             ("time_exit", bool(cfg.close_days_before_expiry)
              and dte <= cfg.close_days_before_expiry),
             ("stop_loss", cfg.stop_multiple is not None
              and marks >= (cfg.stop_multiple or 0.0) * credit),
             ("profit_take", cfg.profit_take is not None
              and marks <= (1.0 - (cfg.profit_take or 0.0)) * credit)]
    for name, hit in rules:  # the later assignment wins: the strategy's order, reversed
        reasons[np.broadcast_to(np.asarray(hit, dtype=bool), marks.shape)] = name
    return reasons


def strategy_labels(chain, config: LabelConfig | None = None, start=None, end=None,
                    progress: bool = False) -> pd.DataFrame:
    """Labels for the bars of ``chain.bars`` between ``start`` and ``end``.

    Columns: ``label`` (0/1/2, NaN where the future is not known yet), ``put_return`` and
    ``call_return`` (realized return on risk, NaN where refused or not known),
    ``put_exit`` / ``call_exit`` (the bar each spread left the book) and ``label_end``
    (the later of the two).
    """
    cfg = config or LabelConfig()
    days = pd.DatetimeIndex(chain.bars.index)
    mask = np.ones(len(days), dtype=bool)
    if start is not None:
        mask &= days >= pd.Timestamp(start)
    if end is not None:
        mask &= days <= pd.Timestamp(end)
    rows = np.flatnonzero(mask)
    returns = {"put": np.full(len(rows), np.nan), "call": np.full(len(rows), np.nan)}
    exits = {"put": np.full(len(rows), -1), "call": np.full(len(rows), -1)}
    for j, t in enumerate(tqdm(rows, desc=f"labels {chain.symbol}", unit="bar",
                               disable=not progress, leave=False)):
        for side in ("put", "call"):
            outcome = spread_outcome(chain, days, t, f"{side}_credit", cfg)
            if outcome is not None:
                returns[side][j], exits[side][j] = outcome.return_on_risk, outcome.exit_index
    put, call = returns["put"], returns["call"]
    known = (exits["put"] >= 0) & (exits["call"] >= 0)
    best = np.fmax(put, call)
    label = np.where(best > cfg.min_edge,
                     np.where(np.nan_to_num(put, nan=-np.inf) >= np.nan_to_num(call, nan=-np.inf),
                              PUT_CREDIT_SPREAD, CALL_CREDIT_SPREAD), HOLD).astype(float)
    label[~known] = np.nan

    def dates(index: np.ndarray) -> pd.DatetimeIndex:
        return days[np.clip(index, 0, None)].where(index >= 0)

    # an unknown label reads every bar to the end: purge it like one ending there
    ends = np.where(known, np.maximum(exits["put"], exits["call"]), len(days) - 1)
    return pd.DataFrame({"label": label, "put_return": put, "call_return": call,
                         "put_exit": dates(exits["put"]), "call_exit": dates(exits["call"]),
                         "label_end": days[ends]}, index=days[rows])
