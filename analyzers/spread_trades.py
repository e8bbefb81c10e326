"""Every credit spread of a run as a row, and the summaries an options trader reads.

Rows: entry/exit dates, both legs' OCC symbols and strikes, contracts, credit, exit debit
(intrinsic value when settled at expiry), P&L after commissions, days held, exit reason,
and at entry: days to expiry, the short leg's delta, the regime (when the signal
indicator has a ``regime`` line). Summaries: by spread kind and by regime (win rate,
average credit, average loss, expectancy), and optopsy-style buckets by DTE and by delta.
"""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pandas as pd

from core.domain import REGIME_NAMES

SPREAD_COLUMNS = ("id", "underlying", "kind", "status", "entry_date", "exit_date", "expiry",
                  "short_leg", "long_leg", "short_strike", "long_strike", "contracts",
                  "entry_credit", "exit_debit", "pnl", "commission", "max_loss", "days_held",
                  "exit_reason", "tag", "dte_at_entry", "short_delta_at_entry",
                  "regime_at_entry", "regime_name_at_entry")


class SpreadTrades(bt.Analyzer):
    """Collects the broker's spreads at the end of the run (needs the spread protocol)."""

    def start(self):
        self._regime_at: dict = {}

    def next(self):
        # remember the regime line (if any) per symbol and date, for regime attribution
        signals = getattr(self.strategy, "signals", {})
        for data, indicator in signals.items():
            if hasattr(indicator.lines, "regime") and len(data):
                self._regime_at[(data._name, data.datetime.date(0))] = indicator.regime[0]

    def get_analysis(self) -> pd.DataFrame:
        broker = self.strategy.broker
        if not hasattr(broker, "closed_spreads"):
            return pd.DataFrame(columns=list(SPREAD_COLUMNS))
        spreads = sorted([*broker.closed_spreads(), *broker.open_spreads()], key=lambda p: p.id)
        deltas = _short_deltas(getattr(broker, "chains", {}), spreads)
        rows = [self._row(p, deltas.get(p.id, np.nan)) for p in spreads]
        return pd.DataFrame(rows, columns=list(SPREAD_COLUMNS))

    def _row(self, p, delta: float) -> dict:
        closed = not p.is_open
        regime = float(self._regime_at.get((p.underlying, p.entry_date), np.nan))
        return {
            "id": p.id, "underlying": p.underlying, "kind": p.kind, "status": p.status,
            "entry_date": p.entry_date, "exit_date": p.exit_date, "expiry": p.expiry,
            "short_leg": p.short.symbol, "long_leg": p.long.symbol,
            "short_strike": p.short.strike, "long_strike": p.long.strike,
            "contracts": p.contracts, "entry_credit": p.entry_credit,
            "exit_debit": p.exit_debit,
            "pnl": p.realized_pnl if closed else p.unrealized_pnl,
            "commission": p.commission, "max_loss": p.max_loss,
            "days_held": ((p.exit_date - p.entry_date).days if closed else None),
            "exit_reason": p.exit_reason, "tag": p.tag,
            "dte_at_entry": (p.expiry - p.entry_date).days,
            "short_delta_at_entry": delta,
            "regime_at_entry": regime,
            # the code's name (``core.domain.REGIME_NAMES``, the order --skip-regimes uses)
            "regime_name_at_entry": REGIME_NAMES[int(regime)] if np.isfinite(regime) else None,
        }


def _short_deltas(chains, spreads) -> dict[int, float]:
    """The short leg's delta on its entry date, by spread id (none where the chain has no
    quote that day): one ``deltas_at`` call per underlying where the chain has it (a
    pandas row per spread cost more than the whole backtest's marks), else a quote each."""
    deltas: dict[int, float] = {}
    by_underlying: dict[str, list] = {}
    for p in spreads:
        by_underlying.setdefault(p.underlying, []).append(p)
    for underlying, group in by_underlying.items():
        chain = chains.get(underlying)
        if chain is None:
            continue
        session_row = getattr(chain, "session_row", None)
        if getattr(chain, "deltas_at", None) is not None and session_row is not None:
            group = [p for p in group if session_row(p.entry_date) is not None]
            values = chain.deltas_at([p.entry_date for p in group],
                                     [p.short.expiry for p in group],
                                     [p.short.strike for p in group],
                                     [p.short.right == "C" for p in group])
            deltas.update(zip((p.id for p in group), values.tolist(), strict=True))
            continue
        for p in group:
            try:
                deltas[p.id] = _short_delta(chain, p)
            except KeyError:
                pass
    return deltas


def _short_delta(chain, p) -> float:
    """The short leg's delta on the entry date from the chain's quote (``quote_arrays``
    where it has it, else its pandas row)."""
    fast = getattr(chain, "quote_arrays", None)
    if fast is None:
        return float(chain.quote(p.entry_date, p.short.expiry, p.short.strike,
                                 p.short.right)["delta"])
    quote = fast(p.entry_date, [p.short.expiry], [p.short.strike], [p.short.right == "C"],
                 with_delta=True)
    return float(quote["delta"][0])


def summarize(spreads: pd.DataFrame, by: str) -> pd.DataFrame:
    """Win rate, average credit, average win and loss, expectancy per group of closed
    spreads (``by`` is a column, e.g. 'kind', 'regime_at_entry', 'dte_bucket')."""
    closed = spreads[spreads["status"] == "closed"]
    if closed.empty:
        return pd.DataFrame(columns=["spreads", "win_rate", "avg_credit", "avg_win",
                                     "avg_loss", "expectancy", "total_pnl"])
    groups = closed.groupby(by, observed=True, dropna=False)
    return pd.DataFrame({
        "spreads": groups.size(),
        "win_rate": groups["pnl"].apply(lambda s: (s > 0).mean()),
        "avg_credit": groups["entry_credit"].mean(),
        "avg_win": groups["pnl"].apply(lambda s: s[s > 0].mean()),
        "avg_loss": groups["pnl"].apply(lambda s: s[s <= 0].mean()),
        "expectancy": groups["pnl"].mean(),
        "total_pnl": groups["pnl"].sum(),
    })


def spread_summaries(spreads: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The tables of the report: by kind, by regime, by DTE bucket, by delta bucket, and by
    the exit that closed the spread (the strategy's tag: profit take, stop loss, time exit,
    or expiry)."""
    frame = spreads.copy()
    codes = frame["regime_at_entry"]
    frame["regime_at_entry"] = codes.map(  # names, not codes (no regime line: n/a)
        lambda code: REGIME_NAMES[int(code)] if pd.notna(code) else "n/a")
    frame["dte_bucket"] = pd.cut(frame["dte_at_entry"], [0, 14, 30, 45, 60, 400])
    frame["delta_bucket"] = pd.cut(frame["short_delta_at_entry"].abs(),
                                   [0, 0.1, 0.2, 0.3, 0.4, 0.5, 1.0])
    frame["exit"] = frame["tag"]
    return {name: summarize(frame, column) for name, column in (
        ("by_kind", "kind"), ("by_regime", "regime_at_entry"),
        ("by_dte", "dte_bucket"), ("by_delta", "delta_bucket"), ("by_exit", "exit"))}
