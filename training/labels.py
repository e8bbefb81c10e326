"""Strategy labels of seed 000: which credit spread would have been the best trade.

For bar t the label says what a trader acting on t's close should have done: sell a put
credit spread (2), sell a call credit spread (1), or hold (0). Each spread is priced by the
simulated broker's own rules (``brokers.spread_pricing``): legs chosen from t's chain (short
leg near ``target_delta``, ``width`` further out, expiry in the DTE window), sold at bar
t + 1's quotes by the fill rule, bought back at bar t + 1 + horizon's quotes (or settled at
intrinsic value if it expires first). Its result is the return on the money at risk,
``(credit - debit) / (width - credit)``. The better spread is the label when its return
clears ``min_edge``; otherwise hold.

The label reads bars t + 1 .. t + 1 + horizon: the future, by definition. ``label_end``
records the last bar each label reads, so training can purge every sample whose label
window reaches into the period it is validated or tested on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm import tqdm

from brokers import spread_pricing as sp
from brokers.spreads import SpreadRequest
from core.domain import CALL_CREDIT_SPREAD, HOLD, PUT_CREDIT_SPREAD
from pricing.contracts import default_width


@dataclass(frozen=True)
class LabelConfig:
    """How labels are priced (defaults match ``strategies.CreditSpreadConfig``)."""

    #: sessions a spread is held after the fill before it is bought back
    horizon: int = 10
    #: |delta| of the short leg
    target_delta: float = 0.30
    #: strike width; None = one strike step, at least $5 (as the strategy)
    width: float | None = None
    #: days-to-expiry window of the expiry
    dte_min: int = 30
    dte_max: int = 45
    #: return on the money at risk a spread must beat to be worth selling
    min_edge: float = 0.05
    #: broker fill rule, "natural" or "mid"
    fill: str = "natural"
    #: slippage per share for mid fills
    slippage: float = 0.0


def spread_return(chain, days: pd.DatetimeIndex, t: int, kind: str,
                  cfg: LabelConfig) -> float:
    """Return on risk of selling ``kind`` on bar t's signal; NaN if it cannot be priced."""
    exit_i = t + 1 + cfg.horizon
    if exit_i >= len(days):
        return np.nan
    day, fill_day = days[t], days[t + 1]
    frame = chain.chain(day)
    spot = float(frame["underlying"].iloc[0])
    width = cfg.width or default_width(spot)
    request = SpreadRequest(underlying=chain.symbol, kind=kind, target_delta=cfg.target_delta,
                            width=width, dte_min=cfg.dte_min, dte_max=cfg.dte_max)
    try:
        short, long = sp.resolve_legs(frame, request, spot)
    except sp.SpreadRejected:
        return np.nan
    credit = sp.open_credit(sp.leg_quote(chain, fill_day, short),
                            sp.leg_quote(chain, fill_day, long), cfg.fill, cfg.slippage)
    risk = width - credit
    if credit <= 0 or risk <= 0:
        return np.nan
    exit_day = days[exit_i]
    if exit_day.date() >= short.expiry:
        expiry_i = int(np.searchsorted(days, pd.Timestamp(short.expiry)))
        spot_at = float(chain.bars["close"].iloc[min(expiry_i, len(days) - 1)])
        debit = sp.settlement(spot_at, short, long)
    else:
        debit = sp.close_debit(sp.leg_quote(chain, exit_day, short),
                               sp.leg_quote(chain, exit_day, long), cfg.fill, cfg.slippage)
    return (credit - debit) / risk


def strategy_labels(chain, config: LabelConfig | None = None, start=None, end=None,
                    progress: bool = False) -> pd.DataFrame:
    """Labels for the bars of ``chain.bars`` between ``start`` and ``end``.

    Columns: ``label`` (0/1/2, NaN where the future is not known yet), ``put_return``,
    ``call_return`` and ``label_end`` (the last bar the label reads).
    """
    cfg = config or LabelConfig()
    days = pd.DatetimeIndex(chain.bars.index)
    mask = np.ones(len(days), dtype=bool)
    if start is not None:
        mask &= days >= pd.Timestamp(start)
    if end is not None:
        mask &= days <= pd.Timestamp(end)
    rows = np.flatnonzero(mask)
    put = np.full(len(rows), np.nan)
    call = np.full(len(rows), np.nan)
    for j, t in enumerate(tqdm(rows, desc=f"labels {chain.symbol}", unit="bar",
                               disable=not progress, leave=False)):
        put[j] = spread_return(chain, days, t, "put_credit", cfg)
        call[j] = spread_return(chain, days, t, "call_credit", cfg)
    best = np.fmax(put, call)
    label = np.where(best > cfg.min_edge,
                     np.where(np.nan_to_num(put, nan=-np.inf) >= np.nan_to_num(call, nan=-np.inf),
                              PUT_CREDIT_SPREAD, CALL_CREDIT_SPREAD), HOLD).astype(float)
    known = (rows + 1 + cfg.horizon) < len(days)
    label[~known] = np.nan
    ends = np.minimum(rows + 1 + cfg.horizon, len(days) - 1)
    return pd.DataFrame({"label": label, "put_return": put, "call_return": call,
                         "label_end": days[ends]}, index=days[rows])
