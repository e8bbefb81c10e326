"""The credit-spread backtest's fast path changes no number.

The simulated broker prices each spread's fills and marks from a table of its quotes
built once (``brokers.spread_pricing.LifeQuotes``, read one day at a time), converts each
bar's date once and asks a chain for a day once per bar; the analyzers build their frames
once per run (issue 16). Here the same backtest runs twice: on the sample market's chains,
and on the same chains with their numpy paths hidden, so that every leg is chosen from
the day's pandas chain and every quote is one pandas row per leg and call (the plain
path, before any batching). Every output must be equal, exactly: summary, trades, spreads,
positions, transactions and the indicator lines.
"""

from __future__ import annotations

import pandas as pd
import pytest

from engine.backtest import BacktestSettings, run_symbol

#: what a chain answers only through its numpy paths
_FAST = ("listed", "strikes_and_deltas", "quote_arrays", "quote_prices", "spot", "life_table",
         "session_row", "deltas_at")


class _PlainChain:
    """An option chain with its numpy paths hidden: the pricing code falls back to
    ``chain(date)`` and ``quote(...)``."""

    def __init__(self, chain):
        self._chain = chain

    def __getattr__(self, name):
        if name in _FAST:
            raise AttributeError(name)
        return getattr(self._chain, name)


class _PlainMarket:
    """The sample market, handing out plain chains."""

    def __init__(self, market):
        self._market = market

    def option_chain(self, symbol):
        return _PlainChain(self._market.option_chain(symbol))

    def __getattr__(self, name):
        return getattr(self._market, name)


@pytest.mark.parametrize("fill", ["natural", "mid"])
def test_fast_path_results_equal_the_plain_path(sample_market, fill):
    bars = sample_market.bars("SPY")
    end = bars.index[-1]
    settings = BacktestSettings(start=end - pd.DateOffset(months=9), end=end,
                                strategy="credit-spread", option_fill=fill, progress=False)
    fast = run_symbol(sample_market, "SPY", settings)
    plain = run_symbol(_PlainMarket(sample_market), "SPY", settings)
    assert len(fast.spreads) > 10  # the window trades: the comparison is not empty
    assert fast.metrics == plain.metrics
    assert fast.warnings == plain.warnings
    for name in ("returns", "benchmark"):
        pd.testing.assert_series_equal(getattr(fast, name), getattr(plain, name),
                                       check_exact=True)
    for name in ("trades", "spreads", "positions", "transactions", "lines"):
        pd.testing.assert_frame_equal(getattr(fast, name), getattr(plain, name),
                                      check_exact=True)
    assert fast.spreads.to_csv() == plain.spreads.to_csv()
    assert fast.trades.to_csv() == plain.trades.to_csv()
