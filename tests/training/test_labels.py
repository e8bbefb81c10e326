"""Strategy labels: priced by the broker's rules, windows recorded for purging."""

import numpy as np
import pandas as pd
import pytest

from brokers import spread_pricing as sp
from brokers.spreads import SpreadRequest
from pricing.contracts import default_width
from training.labels import LabelConfig, strategy_labels


@pytest.fixture(scope="module")
def labelled(sample_market):
    chain = sample_market.option_chain("SPY")
    return chain, strategy_labels(chain, LabelConfig(horizon=10), start="2021-09-01",
                                  end=pd.Timestamp(chain.bars.index[-1]))


def test_label_is_the_better_spread_when_it_clears_the_edge(labelled):
    _, labels = labelled
    known = labels.dropna(subset=["label"])
    best = np.fmax(known["put_return"], known["call_return"])
    expected = np.where(best > 0.05, np.where(known["put_return"] >= known["call_return"], 2, 1), 0)
    np.testing.assert_array_equal(known["label"].to_numpy(), expected)
    assert set(np.unique(known["label"])) == {0.0, 1.0, 2.0}


def test_one_label_priced_by_hand_with_the_broker_rules(labelled):
    chain, labels = labelled
    days = chain.bars.index
    t = int(days.searchsorted(pd.Timestamp("2022-03-01")))
    frame = chain.chain(days[t])
    spot = float(frame["underlying"].iloc[0])
    width = default_width(spot)
    short, long = sp.resolve_legs(frame, SpreadRequest("SPY", "put_credit", width=width), spot)
    credit = chain.quote(days[t + 1], short.expiry, short.strike, "P")["bid"] - chain.quote(
        days[t + 1], long.expiry, long.strike, "P")["ask"]
    debit = chain.quote(days[t + 11], short.expiry, short.strike, "P")["ask"] - chain.quote(
        days[t + 11], long.expiry, long.strike, "P")["bid"]
    assert labels.loc[days[t], "put_return"] == pytest.approx((credit - debit) / (width - credit))
    assert labels.loc[days[t], "label_end"] == days[t + 11]


def test_the_last_bars_have_no_label_yet(labelled):
    _, labels = labelled
    assert labels["label"].iloc[-11:].isna().all()
    assert labels["label"].iloc[:-11].notna().all()
