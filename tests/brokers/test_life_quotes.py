"""``spread_pricing.LifeQuotes``: a spread's quotes built once for its whole life are the
quotes the chain gives day by day, and it answers nothing outside that life.

The simulated broker prices every fill and mark of a spread from this table (issue 16),
so a difference here would change every credit-spread backtest.
"""

from __future__ import annotations

import pandas as pd
import pytest

from brokers import spread_pricing as sp
from brokers.spreads import SpreadRequest


@pytest.fixture(scope="module")
def chain(sample_market):
    return sample_market.option_chain("SPY")


@pytest.mark.parametrize(("day", "kind"), [("2015-06-15", "put"), ("2020-03-16", "call"),
                                           ("2024-11-05", "put")])
def test_life_quotes_equal_the_quotes_of_each_day(chain, day, kind):
    index = chain.bars.index
    start = index[index.searchsorted(pd.Timestamp(day))].date()
    request = SpreadRequest(underlying="SPY", kind=kind, contracts=1, width=5.0,
                            target_delta=0.30, dte_min=30, dte_max=45)
    short, long = sp.resolve_on_chain(chain, start, request)
    life = sp.life_quotes(chain, start, short, long)
    days = [d.date() for d in index[(index >= pd.Timestamp(start))
                                     & (index <= pd.Timestamp(short.expiry))]]
    assert len(days) > 15
    for d in days:
        assert life.get(d) == sp.spread_quotes(chain, d, short, long)
    before = index[index.searchsorted(pd.Timestamp(start)) - 1].date()
    after = index[index.searchsorted(pd.Timestamp(short.expiry), side="right")].date()
    assert life.get(before) is None
    assert life.get(after) is None


def test_a_chain_without_life_table_has_no_life_quotes(chain):
    class Plain:
        bars = chain.bars

    assert sp.life_quotes(Plain(), chain.bars.index[0].date(), None, None) is None
