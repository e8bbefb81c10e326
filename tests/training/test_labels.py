"""Strategy labels: each spread traded by the strategy's own exits with the broker's pricing,
``label_end`` at the bar it really left the book."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from brokers import spread_pricing as sp
from brokers.options_broker import OptionsBroker
from brokers.spreads import SpreadRequest
from pricing.contracts import default_width
from strategies.credit_spread import CreditSpreadConfig
from training.labels import LabelConfig, fixed_horizon_config, spread_outcome, strategy_labels

HALF = 0.05  # half the bid/ask spread of every scripted quote
COMM = 0.65 * 2 / 100  # commission per share of one opening or closing order


class ScriptedChain:
    """A chain of four contracts (95/90 puts, 105/110 calls, one expiry) whose mids follow
    a script per bar; bid and ask are mid -/+ 0.05, or -/+ a scripted half spread
    (``halves``, per contract and bar like ``mids``)."""

    symbol = "TST"

    def __init__(self, closes, mids: dict, expiry="2024-02-09", halves: dict | None = None):
        days = pd.bdate_range("2024-01-01", periods=len(closes))
        self.bars = pd.DataFrame({"close": np.asarray(closes, dtype=float)}, index=days)
        self.expiry = pd.Timestamp(expiry)
        self.mids = {key: np.broadcast_to(np.asarray(v, dtype=float), len(days))
                     for key, v in mids.items()}
        self.halves = {key: np.broadcast_to(np.asarray(halves.get(key, HALF), dtype=float),
                                            len(days)) for key in self.mids} if halves else {}

    def chain(self, date):
        rows = [("P", 95.0, -0.30), ("P", 90.0, -0.15), ("C", 105.0, 0.30), ("C", 110.0, 0.15)]
        return pd.DataFrame({
            "symbol": [f"TST{r}{k:g}" for r, k, _ in rows], "expiry": self.expiry,
            "dte": (self.expiry - pd.Timestamp(date)).days, "strike": [k for _, k, _ in rows],
            "right": [r for r, _, _ in rows], "delta": [d for _, _, d in rows],
            "underlying": float(self.bars.loc[pd.Timestamp(date), "close"])})

    def quote_prices(self, date, expiry, strike, right):
        i = self.bars.index.get_loc(pd.Timestamp(date))
        mid = float(self.mids[(right, strike)][i])
        half = float(self.halves[(right, strike)][i]) if self.halves else HALF
        return mid - half, mid + half, mid


def flat(n, value):
    return np.full(n, value)


def path(n, head):
    """``head`` then its last value repeated to ``n`` bars."""
    return np.concatenate([head, np.full(n - len(head), head[-1])])


CFG = LabelConfig(width=5.0)
CREDIT = (2.0 - HALF) - (1.0 + HALF)  # 0.90: short bid - long ask at mids 2 and 1


def test_profit_take_and_stop_exit_on_the_bar_after_they_fire():
    n = 30
    chain = ScriptedChain(flat(n, 100.0), {
        # put mark 1.0, 1.0, 0.8, 0.4 (<= 50 % of the 0.90 credit: take fires on bar 3)
        ("P", 95.0): path(n, [2.0, 2.0, 1.8, 1.4, 1.3]), ("P", 90.0): flat(n, 1.0),
        # call mark 1.0, 1.0, 1.5, 1.6, 1.7, 1.9 (>= 2 x 0.90: the stop fires on bar 5)
        ("C", 105.0): path(n, [2.0, 2.0, 2.5, 2.6, 2.7, 2.9, 3.2]), ("C", 110.0): flat(n, 1.0)})
    days = chain.bars.index
    put = spread_outcome(chain, days, 0, "put_credit", CFG)
    assert (put.exit_index, put.reason) == (4, "profit_take")
    debit = (1.3 + HALF) - (1.0 - HALF)  # bought back at bar 4's natural prices
    assert put.return_on_risk == pytest.approx((CREDIT - debit - 2 * COMM) / (5.0 - CREDIT))
    call = spread_outcome(chain, days, 0, "call_credit", CFG)
    assert (call.exit_index, call.reason) == (6, "stop_loss")
    debit = (3.2 + HALF) - (1.0 - HALF)
    assert call.return_on_risk == pytest.approx((CREDIT - debit - 2 * COMM) / (5.0 - CREDIT))

    labels = strategy_labels(chain, CFG, end=days[0])
    row = labels.iloc[0]
    assert row["label"] == 2  # the put, the only spread that made money
    assert row["put_exit"] == days[4] and row["call_exit"] == days[6]
    assert row["label_end"] == days[6]  # the label compares both: it reads both exits


def test_a_close_is_bought_back_at_most_at_the_width_as_the_broker_pays():
    """The broker's cap (``brokers.spread_pricing.close_debit`` with the width): the
    underlying gaps down, both puts deep in the money and quoted wide, 95 put 9.70/10.50 and
    90 put 4.80/5.40 (the quotes of the broker's own test): the natural debit is 5.70, but a
    5-wide spread is bought back for at most 5.00, so the label loses the spread's max loss
    plus both orders' commissions, never more (it read -1.18 of its risk, beyond it)."""
    n = 30
    chain = ScriptedChain(flat(n, 100.0), {
        # put mark 1.0 on the fill bar, then 5.0 (>= 2 x 0.90: the stop fires on bar 2)
        ("P", 95.0): path(n, [2.0, 2.0, 10.10]), ("P", 90.0): path(n, [1.0, 1.0, 5.10]),
        ("C", 105.0): flat(n, 2.0), ("C", 110.0): flat(n, 1.0)},
        halves={("P", 95.0): path(n, [HALF, HALF, 0.40]),
                ("P", 90.0): path(n, [HALF, HALF, 0.30])})
    days = chain.bars.index
    put = spread_outcome(chain, days, 0, "put_credit", CFG)
    assert (put.exit_index, put.reason) == (3, "stop_loss")
    natural = 10.50 - 4.80  # 5.70: above the width
    assert natural > 5.0
    max_loss = (CREDIT - 5.0 - 2 * COMM) / (5.0 - CREDIT)  # -1 less the commissions' share
    assert put.return_on_risk == pytest.approx(max_loss)
    assert put.return_on_risk >= -1.0 - 2 * COMM / (5.0 - CREDIT) - 1e-12
    # the broker's price of that close, with its cap
    short, long = sp.Quote(9.70, 10.50, 10.10), sp.Quote(4.80, 5.40, 5.10)
    debit = sp.close_debit(short, long, "natural", 0.0, 5.0)
    assert put.return_on_risk == pytest.approx((CREDIT - debit - 2 * COMM) / (5.0 - CREDIT))
    # mid fills with slippage: mid 5.00 + 0.30 is above the width too
    mid = dataclasses.replace(CFG, fill="mid", slippage=0.30)
    credit = 2.0 - 1.0 - 0.30
    put = spread_outcome(chain, days, 0, "put_credit", mid)
    assert put.return_on_risk == pytest.approx((credit - 5.0 - 2 * COMM) / (5.0 - credit))


def test_time_exit_and_expiry_settlement():
    # no take, no stop: marks stay at the credit; expiry on a Saturday (monthly contracts
    # before 2015): it settles from Friday's close, its last session, as the broker does
    # (it settled from Monday's, a close dated after the expiry)
    n, expiry = 40, pd.Timestamp("2024-02-10")
    mids = {("P", 95.0): 1.95, ("P", 90.0): 1.0, ("C", 105.0): 1.95, ("C", 110.0): 1.0}
    closes = flat(n, 100.0)
    days = pd.bdate_range("2024-01-01", periods=n)
    closes[days.get_loc(pd.Timestamp("2024-02-09"))] = 93.0  # settlement session: put ITM by 2
    closes[days.get_loc(pd.Timestamp("2024-02-12"))] = 80.0  # after the expiry: not read
    chain = ScriptedChain(closes, mids, expiry=expiry)
    credit = (1.95 - HALF) - (1.0 + HALF)

    timed = spread_outcome(chain, days, 0, "put_credit", CFG)  # 5 days before: Mon Feb 5
    assert timed.reason == "time_exit" and days[timed.exit_index] == pd.Timestamp("2024-02-06")
    debit = (1.95 + HALF) - (1.0 - HALF)
    assert timed.return_on_risk == pytest.approx((credit - debit - 2 * COMM) / (5 - credit))

    to_expiry = dataclasses.replace(CFG, close_days_before_expiry=0)
    put = spread_outcome(chain, days, 0, "put_credit", to_expiry)
    assert put.reason == "expiry" and days[put.exit_index] == pd.Timestamp("2024-02-09")
    assert put.return_on_risk == pytest.approx((credit - 2.0 - COMM) / (5 - credit))
    call = spread_outcome(chain, days, 0, "call_credit", to_expiry)
    assert call.return_on_risk == pytest.approx((credit - 0.0 - COMM) / (5 - credit))
    row = strategy_labels(chain, to_expiry, end=days[0]).iloc[0]
    assert row["label"] == 1 and row["label_end"] == pd.Timestamp("2024-02-09")


def test_an_expiry_session_missing_from_the_data_settles_from_the_last_close_before_it():
    """The broker's rule: never from a close dated after the expiry (Monday's 80), but the
    last close before it (Thursday's 93), booked on the first bar after the gap."""
    n = 40
    mids = {("P", 95.0): 1.95, ("P", 90.0): 1.0, ("C", 105.0): 1.95, ("C", 110.0): 1.0}
    chain = ScriptedChain(flat(n, 100.0), mids, expiry="2024-02-09")
    chain.bars.loc[pd.Timestamp("2024-02-08"), "close"] = 93.0
    chain.bars.loc[pd.Timestamp("2024-02-12"), "close"] = 80.0
    chain.bars = chain.bars.drop(pd.Timestamp("2024-02-09"))  # the expiry session is missing
    days = chain.bars.index
    to_expiry = dataclasses.replace(CFG, close_days_before_expiry=0)
    put = spread_outcome(chain, days, 0, "put_credit", to_expiry)
    credit = (1.95 - HALF) - (1.0 + HALF)
    assert put.reason == "expiry" and days[put.exit_index] == pd.Timestamp("2024-02-12")
    assert put.return_on_risk == pytest.approx((credit - 2.0 - COMM) / (5 - credit))


def test_a_spread_still_open_at_the_last_bar_leaves_the_label_unknown():
    n = 10
    chain = ScriptedChain(flat(n, 100.0), {("P", 95.0): 1.95, ("P", 90.0): 1.0,
                                           ("C", 105.0): 1.95, ("C", 110.0): 1.0})
    labels = strategy_labels(chain, CFG, end=chain.bars.index[5])  # expiries in the window
    assert labels["label"].isna().all()
    assert (labels["label_end"] == chain.bars.index[-1]).all()  # purged like the last bar


def test_a_losing_pair_holds_and_a_refused_spread_earns_nothing():
    n = 30
    chain = ScriptedChain(flat(n, 100.0), {
        ("P", 95.0): path(n, [2.0, 2.0, 3.0]), ("P", 90.0): flat(n, 1.0),
        ("C", 105.0): path(n, [2.0, 2.0, 3.0]), ("C", 110.0): flat(n, 1.0)})
    row = strategy_labels(chain, CFG, end=chain.bars.index[0]).iloc[0]
    assert row["put_return"] < 0 and row["call_return"] < 0 and row["label"] == 0
    narrow = ScriptedChain(flat(n, 100.0), {("P", 95.0): 1.0, ("P", 90.0): 1.0,
                                            ("C", 105.0): 1.0, ("C", 110.0): 1.0})
    row = strategy_labels(narrow, CFG, end=narrow.bars.index[0]).iloc[0]  # credit < 0
    assert np.isnan(row["put_return"]) and np.isnan(row["call_return"]) and row["label"] == 0


def test_label_defaults_are_the_strategy_and_broker_defaults():
    strategy = CreditSpreadConfig()
    for name in ("target_delta", "width", "dte_min", "dte_max", "profit_take",
                 "stop_multiple", "close_days_before_expiry"):
        assert getattr(LabelConfig(), name) == getattr(strategy, name), name
    broker = dict(OptionsBroker.params._getitems())
    assert LabelConfig().commission_per_contract == broker["commission_per_contract"]
    assert LabelConfig().fill == broker["fill"]


@pytest.fixture(scope="module")
def labelled(sample_market):
    chain = sample_market.option_chain("SPY")
    return chain, strategy_labels(chain, LabelConfig(), start="2021-09-01",
                                  end=pd.Timestamp(chain.bars.index[-1]))


def test_label_sells_the_better_side_when_it_made_money(labelled):
    _, labels = labelled
    known = labels.dropna(subset=["label"])
    best = np.fmax(known["put_return"], known["call_return"])
    expected = np.where(best > 0.0, np.where(known["put_return"] >= known["call_return"], 2, 1),
                        0)
    np.testing.assert_array_equal(known["label"].to_numpy(), expected)
    assert set(np.unique(known["label"])) == {0.0, 1.0, 2.0}
    assert (known["label_end"] > known.index).all()
    assert (known["label_end"] == np.maximum(known["put_exit"], known["call_exit"])).all()
    held = np.busday_count(known.index.values.astype("datetime64[D]"),
                           known["label_end"].values.astype("datetime64[D]"))
    assert held.max() <= 45 and held.min() >= 2  # exits, not a fixed horizon
    assert len(np.unique(held)) > 5


def test_the_last_bars_have_no_label_yet(labelled):
    _, labels = labelled
    unknown = labels["label"].isna()
    assert unknown.iloc[-1] and not unknown.iloc[:-60].any()
    # an unknown label reads every bar to the end: it is purged like one ending there (a
    # later bar's spread may still exit sooner, by its profit take, and be known)
    assert (labels.loc[unknown, "label_end"] == labels["label_end"].max()).all()


def test_the_fixed_horizon_label_is_still_one_config_away(sample_market):
    chain = sample_market.option_chain("SPY")
    days = chain.bars.index
    t = int(days.searchsorted(pd.Timestamp("2022-03-01")))
    labels = strategy_labels(chain, fixed_horizon_config(10), start=days[t], end=days[t])
    frame = chain.chain(days[t])
    spot = float(frame["underlying"].iloc[0])
    width = default_width(spot)
    short, long = sp.resolve_legs(frame, SpreadRequest("SPY", "put_credit", width=width), spot)
    credit = chain.quote(days[t + 1], short.expiry, short.strike, "P")["bid"] - chain.quote(
        days[t + 1], long.expiry, long.strike, "P")["ask"]
    debit = chain.quote(days[t + 11], short.expiry, short.strike, "P")["ask"] - chain.quote(
        days[t + 11], long.expiry, long.strike, "P")["bid"]
    assert labels["put_return"].iloc[0] == pytest.approx((credit - debit) / (width - credit))
    assert labels["put_exit"].iloc[0] == days[t + 11]


class OnDates:
    """A signal indicator factory: ``value`` on the given dates, hold elsewhere."""

    def __init__(self, dates, value):
        import backtrader as bt

        class _Signal(bt.Indicator):
            lines = ("signal",)

            def next(inner):
                day = pd.Timestamp(inner.data.datetime.date(0))
                inner.lines.signal[0] = value if day in dates else 0

        self.indicator = _Signal

    def __call__(self, data):
        return self.indicator(data)


@pytest.mark.parametrize("kind,value", [("put", 2), ("call", 1)])
def test_labels_are_what_the_strategy_realizes_on_the_simulated_broker(sample_market, kind,
                                                                        value):
    """The label of a bar is the return on risk (realized P&L / margin) and the exit bar of
    the spread CreditSpreadStrategy opens on that bar's signal and closes by its rules."""
    import backtrader as bt

    from feeds.btfeed import make_feed
    from strategies.credit_spread import CreditSpreadStrategy

    chain = sample_market.option_chain("SPY")
    bars = sample_market.bars("SPY", "2022-01-03", "2022-09-30")
    signals = set(bars.index[[5, 25, 45, 65, 85, 105]])
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(make_feed(bars, "SPY"))
    cerebro.broker = OptionsBroker(chains={"SPY": chain})
    cerebro.broker.setcash(100_000.0)
    cerebro.addstrategy(CreditSpreadStrategy, signal_factory=OnDates(signals, value),
                        config=CreditSpreadConfig(max_open_spreads=10, entry_spacing=1))
    broker = cerebro.run()[0].broker
    closed = broker.closed_spreads("SPY")
    assert len(closed) >= 5
    labels = strategy_labels(chain, LabelConfig(), start=bars.index[0], end=bars.index[-1])
    reasons = set()
    for spread in closed:
        signal_bar = bars.index[bars.index.get_loc(pd.Timestamp(spread.entry_date)) - 1]
        assert signal_bar in signals
        row = labels.loc[signal_bar]
        assert spread.realized_pnl / spread.margin == pytest.approx(row[f"{kind}_return"],
                                                                    rel=1e-9, abs=1e-9)
        assert pd.Timestamp(spread.exit_date) == row[f"{kind}_exit"]
        reasons.add(spread.tag or spread.exit_reason)
    assert len(reasons) >= 2, reasons  # more than one kind of exit was checked


def test_a_close_at_the_width_is_the_label_the_simulated_broker_realizes(sample_market):
    """SPY's call spread sold on 2021-08-25's signal is stopped out into a rally and bought
    back where the natural debit (short ask - long bid) is above the width: the broker pays
    the width, and the label is what the broker realizes (it read -1.14 of the risk, the
    broker -1.01: the spread's max loss plus both orders' commissions)."""
    import backtrader as bt

    from feeds.btfeed import make_feed
    from strategies.credit_spread import CreditSpreadStrategy

    chain = sample_market.option_chain("SPY")
    bars = sample_market.bars("SPY", "2021-08-02", "2021-10-29")
    signal = pd.Timestamp("2021-08-25")
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(make_feed(bars, "SPY"))
    cerebro.broker = OptionsBroker(chains={"SPY": chain})
    cerebro.broker.setcash(100_000.0)
    cerebro.addstrategy(CreditSpreadStrategy, signal_factory=OnDates({signal}, 1),
                        config=CreditSpreadConfig())
    (spread,) = cerebro.run()[0].broker.closed_spreads("SPY")
    assert spread.exit_debit == pytest.approx(spread.width)  # closed at the cap
    realized = spread.realized_pnl / spread.margin
    assert realized == pytest.approx(-1.0 - 2 * COMM / (spread.width - spread.entry_credit))
    row = strategy_labels(chain, LabelConfig(), start=signal, end=signal).loc[signal]
    assert row["call_return"] == pytest.approx(realized, rel=1e-9, abs=1e-9)
    assert pd.Timestamp(spread.exit_date) == row["call_exit"]


class _FramePathChain:
    """The sample chain seen through the pandas path only (a frame per day, a quote per
    leg a day), as a source without the numpy path is."""

    def __init__(self, chain) -> None:
        self.symbol, self.bars, self._chain = chain.symbol, chain.bars, chain

    def chain(self, date):
        return self._chain.chain(date)

    def quote_prices(self, date, expiry, strike, right):
        return self._chain.quote_prices(date, expiry, strike, right)


def test_numpy_path_gives_the_labels_of_the_pandas_chain_path(sample_market):
    chain = sample_market.option_chain("SPY")
    start, end = pd.Timestamp("2020-01-02"), pd.Timestamp("2020-04-30")  # calm into a crash
    fast = strategy_labels(chain, start=start, end=end)
    slow = strategy_labels(_FramePathChain(chain), start=start, end=end)
    pd.testing.assert_frame_equal(fast, slow)
    assert fast["label"].notna().all() and fast["label"].nunique() > 1


def test_labels_made_only_of_refusals_are_refused_before_a_model_fits():
    """A price far below the strike grid (an FX rate near 1.10) lets no spread be priced:
    every label is hold, and the run says why instead of a model failing on one class."""
    from core.errors import DataError
    from training.pipeline import check_spreads_priced

    days = pd.bdate_range("2024-01-02", periods=4)
    close = pd.Series([1.1, 1.1, 1.1, 1.1], index=days)
    refused = pd.DataFrame({"label": [0.0, 0.0, 0.0, np.nan], "put_return": np.nan,
                            "call_return": np.nan}, index=days)
    with pytest.raises(DataError, match=r"no credit spread could be priced on any of the 3 "
                                        r"labelled sessions \(the closes are about 1.10"):
        check_spreads_priced("EURUSD", refused, close)
    priced = refused.assign(put_return=[np.nan, -0.2, np.nan, np.nan])
    check_spreads_priced("EURUSD", priced, close)  # one priced spread: labels to learn from


def test_a_side_without_listed_strikes_is_a_refusal_not_a_crash():
    request = SpreadRequest(underlying="FX", kind="put_credit", target_delta=0.3, width=5.0,
                            dte_min=30, dte_max=45)
    with pytest.raises(sp.SpreadRejected, match="no put strikes listed"):
        sp._pick_strikes(np.array([]), np.array([]), request, 1.1, "2024-02-16")


def test_labels_as_known_on_an_end_before_the_chains_last_bar():
    """``known_by``: a spread that left the book after the end has no return yet on it; a
    label needing it is unknown and ends at the end (train --end-date before the data's
    end scored its last bars with what came later)."""
    import pandas as pd

    from training.pipeline import known_by

    days = pd.bdate_range("2024-01-01", periods=4)
    labels = pd.DataFrame({"label": [2.0, 1.0, 0.0, 2.0],
                           "put_return": [0.1, -0.2, 0.3, 0.2],
                           "call_return": [-0.1, 0.2, -0.3, 0.1],
                           "put_exit": [days[1], days[2], days[3], days[3]],
                           "call_exit": [days[1], days[1], days[2], days[3]],
                           "label_end": [days[1], days[2], days[3], days[3]]}, index=days)
    known = known_by(labels, days[2])
    assert known["label"].tolist()[:2] == [2.0, 1.0]
    assert known["label"].iloc[2:].isna().all()
    assert known["put_return"].iloc[2:].isna().all() and known["call_return"].iloc[2] == -0.3
    assert (known["label_end"].iloc[2:] == days[2]).all()
    pd.testing.assert_frame_equal(known_by(labels, days[3]), labels)
