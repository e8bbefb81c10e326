"""The money of a credit-spread backtest against hand arithmetic on a chain typed in by hand.

``TypedChain`` quotes only what a test writes down (bid, ask and mid of two puts on each
session, the underlying's close), so every expected cash, margin, mark, value and P&L below
is worked out in the comments from those numbers, not from the pricing model the broker
uses. A ``Ledger`` analyzer records the broker after every bar.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import backtrader as bt
import pandas as pd
import pytest

from analyzers.spread_trades import SpreadTrades
from brokers.options_broker import OptionsBroker
from brokers.spreads import SpreadRequest
from feeds.btfeed import make_feed
from feeds.calendar import sessions
from pricing.contracts import occ_symbol

CASH = 100_000.0
# short 95 put / long 90 put, 5 wide, picked by otm_pct from a close of 100
REQUEST = SpreadRequest("SPY", "put_credit", otm_pct=0.05, width=5.0, dte_min=1, dte_max=30,
                        contracts=2)


class TypedChain:
    """One expiry, the 95 and 90 puts, quotes as typed: ``quotes[day] = ((bid, ask, mid) of
    the 95 put, (bid, ask, mid) of the 90 put)``; ``closes[day]`` the underlying's close.
    Only the chain's frame path (no numpy fast path), so the broker prices from these."""

    def __init__(self, closes: dict, expiry: str, quotes: dict):
        index = pd.DatetimeIndex([pd.Timestamp(d) for d in closes], name="date")
        self.symbol = "SPY"
        self.bars = pd.DataFrame({"close": [float(c) for c in closes.values()]}, index=index)
        self.expiry = pd.Timestamp(expiry)
        self.quotes = {pd.Timestamp(d).date(): q for d, q in quotes.items()}

    def has_date(self, date) -> bool:
        return pd.Timestamp(date) in self.bars.index

    def _typed(self, day: dt.date, strike: float):
        short, long = self.quotes[day]
        return short if strike == 95.0 else long

    def chain(self, date) -> pd.DataFrame:
        day = pd.Timestamp(date)
        rows = [{"symbol": occ_symbol("SPY", self.expiry.date(), "P", k),
                 "expiry": self.expiry, "dte": (self.expiry - day).days, "strike": k,
                 "right": "P", "bid": b, "ask": a, "mid": m, "delta": -0.3,
                 "underlying": float(self.bars.loc[day, "close"])}
                for k in (95.0, 90.0) for b, a, m in [self._typed(day.date(), k)]]
        return pd.DataFrame(rows)

    def quote(self, date, expiry, strike, right) -> pd.Series:
        bid, ask, mid = self._typed(pd.Timestamp(date).date(), float(strike))
        return pd.Series({"bid": bid, "ask": ask, "mid": mid, "delta": -0.3})


class Ledger(bt.Analyzer):
    """The broker after every bar: value, free cash, reserved margin, open marks."""

    def start(self):
        self.rows = []

    def next(self):
        broker = self.strategy.broker
        self.rows.append({
            "date": self.strategy.datas[0].datetime.date(0), "value": broker.getvalue(),
            "cash": broker.getcash(), "reserved": broker.reserved_margin(),
            "marks": {p.id: p.mark for p in broker.open_spreads()}})


class Script(bt.Strategy):
    """``actions[i](strategy)`` on bar ``i`` (of the first data)."""

    params = (("actions", None),)

    def __init__(self):
        self.notes = []

    def notify_order(self, order):
        self.notes.append((order.ref, order.getstatusname(), dict(order.info)))

    def next(self):
        action = (self.p.actions or {}).get(len(self) - 1)
        if action is not None:
            action(self)


def bars_of(days, chain: TypedChain | None = None) -> pd.DataFrame:
    """Daily bars on ``days`` closing where ``chain``'s underlying does (else at 100)."""
    index = pd.DatetimeIndex(days, name="date")
    close = (chain.bars["close"].reindex(index).to_numpy() if chain is not None
             else [100.0] * len(index))
    frame = pd.DataFrame({c: close for c in ("open", "high", "low", "close")}, index=index)
    frame["volume"] = 1e6
    return frame


def run(days, chain, actions, feeds=None, **broker_kw):
    cerebro = bt.Cerebro(stdstats=False)
    for name, frame in (feeds or {"SPY": bars_of(days, chain)}).items():
        cerebro.adddata(make_feed(frame, name))
    cerebro.broker = OptionsBroker(chains={"SPY": chain}, **broker_kw)
    cerebro.broker.setcash(CASH)
    cerebro.addstrategy(Script, actions=actions)
    cerebro.addanalyzer(Ledger, _name="ledger")
    cerebro.addanalyzer(SpreadTrades, _name="spreads")
    return cerebro.run()[0]


def open_on(data_index: int = 0, request: SpreadRequest = REQUEST):
    return lambda s: s.broker.open_credit_spread(s, s.datas[data_index], request)


def close_on(tag: str):
    return lambda s: s.broker.close_spread(s, 1, tag)


# ---------------------------------------------------------------- a ten-session life
DAYS = list(sessions("2021-03-08", "2021-03-19"))  # Mon 8th .. Fri 19th (DST on the 14th)
# the 95 put's mid falls 5 cents a session from 1.60, the 90 put's 2 cents from 0.50;
# bid and ask 5 cents either side of mid
QUOTES = {d: ((round(1.55 - 0.05 * i, 2), round(1.65 - 0.05 * i, 2), round(1.60 - 0.05 * i, 2)),
              (round(0.45 - 0.02 * i, 2), round(0.55 - 0.02 * i, 2), round(0.50 - 0.02 * i, 2)))
          for i, d in enumerate(DAYS)}


def typed(closes=None, expiry="2021-03-19", days=DAYS, quotes=None):
    level = {d: 100.0 for d in days}
    level.update({pd.Timestamp(k): v for k, v in (closes or {}).items()})
    return TypedChain(level, expiry, quotes or {d: QUOTES.get(d, QUOTES[DAYS[-1]])
                                                for d in days})


def test_natural_fill_cash_margin_marks_and_value_on_every_bar():
    # fill on the 9th (i=1): 95 put 1.50/1.60 (mid 1.55), 90 put 0.43/0.53 (mid 0.48)
    # natural credit 1.50 - 0.53 = 0.97; commission 0.65 x 2 contracts x 2 legs = 2.60;
    # margin (5 - 0.97) x 100 x 2 = 806; cash 100,000 + 194 - 2.60 - 806 = 99,385.40
    strat = run(DAYS[:5], typed(), {0: open_on()})
    rows = strat.analyzers.ledger.rows
    assert rows[0] == {"date": DAYS[0].date(), "value": CASH, "cash": CASH, "reserved": 0.0,
                       "marks": {}}
    for i, rec in enumerate(rows[1:], start=1):
        mark = (1.60 - 0.05 * i) - (0.50 - 0.02 * i)  # 1.07, 1.04, 1.01, 0.98
        assert rec["cash"] == pytest.approx(99_385.40)
        assert rec["reserved"] == pytest.approx(806.0)
        assert rec["marks"] == {1: pytest.approx(mark)}
        # value = cash + margin - mark x 200 = 100,000 - 2.60 + (0.97 - mark) x 200
        assert rec["value"] == pytest.approx(CASH - 2.60 + (0.97 - mark) * 200)
    (row,) = strat.analyzers.spreads.get_analysis().to_dict("records")
    assert row["status"] == "open" and row["entry_credit"] == pytest.approx(0.97)
    assert row["pnl"] == pytest.approx((0.97 - 0.98) * 200 - 2.60)
    assert row["pnl"] == pytest.approx(strat.broker.getvalue() - CASH)


def test_mid_fill_with_slippage_and_a_minimum_commission():
    # mid credit 1.55 - 0.48 - 0.04 slippage = 1.03; commission max(1.0 x 2 x 2, 5) = 5;
    # margin (5 - 1.03) x 200 = 794; the mark on the fill bar is 1.07 (mid, no slippage)
    strat = run(DAYS[:3], typed(), {0: open_on()}, fill="mid", slippage=0.04,
                commission_per_contract=1.0, min_commission_per_order=5.0)
    filled = strat.analyzers.ledger.rows[1]
    assert filled["cash"] == pytest.approx(CASH + 206 - 5.0 - 794)
    assert filled["reserved"] == pytest.approx(794)
    assert filled["value"] == pytest.approx(CASH - 5.0 + (1.03 - 1.07) * 200)
    position = strat.broker.get_spread(1)
    short_fill, long_fill = position.leg_fills
    assert (short_fill.price, long_fill.price) == (pytest.approx(1.53), pytest.approx(0.50))


def test_a_slippage_that_eats_the_credit_is_refused_saying_so():
    """Mid credit 1.60 - 0.50 = 1.10 less 2.00 a share of slippage is -0.90: the refusal
    says the slippage took it (it read 'non-positive credit -0.90 at mid prices', a mid
    credit no chain quoted)."""
    strat = run(DAYS[:3], typed(), {0: open_on()}, fill="mid", slippage=2.0)
    (reason,) = {note[2].get("reason") for note in strat.notes if note[1] == "Rejected"}
    assert reason.startswith("non-positive credit -0.90 at mid prices less a slippage of 2.00 "
                             "a share on 2021-03-08")
    assert strat.broker.open_spreads() == []


def test_early_close_pays_the_next_bars_natural_debit():
    # close asked on the 12th (i=4), filled on the 15th (i=5) at 95 ask 1.40 - 90 bid 0.35
    # = 1.05: realized (0.97 - 1.05) x 200 - 2.60 x 2 = -21.20
    strat = run(DAYS, typed(), {0: open_on(), 4: close_on("stop_loss")})
    (position,) = strat.broker.closed_spreads()
    assert position.exit_date == DAYS[5].date() and position.tag == "stop_loss"
    assert position.exit_debit == pytest.approx(1.05)
    assert position.realized_pnl == pytest.approx(-21.20)
    after = strat.analyzers.ledger.rows[5]
    assert after["reserved"] == 0.0 and after["marks"] == {}
    assert after["cash"] == after["value"] == pytest.approx(CASH - 21.20)
    assert strat.broker.getvalue() - CASH == pytest.approx(
        strat.analyzers.spreads.get_analysis()["pnl"].sum())


@pytest.mark.parametrize("close, owed", [
    (101.0, 0.0),   # both puts out of the money
    (95.0, 0.0),    # exactly at the short strike
    (93.0, 2.0),    # between the strikes: the short put's 2.00
    (90.0, 5.0),    # exactly at the long strike: the whole width
    (80.0, 5.0),    # both in the money: the width, the max loss
])
def test_expiry_settles_at_the_expiry_sessions_close(close, owed):
    strat = run(DAYS, typed({"2021-03-19": close}), {0: open_on()})
    (position,) = strat.broker.closed_spreads()
    realized = (0.97 - owed) * 200 - 2.60  # nothing charged at expiry
    assert position.exit_reason == "expiry" and position.exit_date == DAYS[-1].date()
    assert position.exit_debit == pytest.approx(owed)
    assert position.realized_pnl == pytest.approx(realized)
    if owed == 5.0:
        assert -position.realized_pnl == pytest.approx(position.max_loss + 2.60)
    assert strat.broker.getvalue() == strat.broker.getcash() == pytest.approx(CASH + realized)


@pytest.mark.parametrize("expiry, last_session, after", [
    # a Saturday expiry (monthly contracts before 2015 were dated the Saturday after their
    # last trading day, as a source may list them): the Friday is the last session
    ("2014-06-21", "2014-06-20", "2014-06-23"),
    # an expiry dated on a Friday holiday (Good Friday 2021): Thursday is the last session
    ("2021-04-02", "2021-04-01", "2021-04-05"),
])
def test_expiry_off_the_calendar_settles_at_the_last_sessions_close(expiry, last_session,
                                                                     after):
    # the underlying closes at 100 through the last session, far above the 95 short put
    # (the spread expires worthless), and at 80 on the session after the expiry date
    days = list(sessions(pd.Timestamp(last_session) - pd.Timedelta(days=10),
                         pd.Timestamp(after) + pd.Timedelta(days=1)))
    quotes = {d: ((1.50, 1.60, 1.55), (0.40, 0.50, 0.45)) for d in days}
    chain = typed({d: 80.0 for d in days if d >= pd.Timestamp(after)}, expiry, days, quotes)
    strat = run(days, chain, {0: open_on()})
    (position,) = strat.broker.closed_spreads()
    # credit 1.50 - 0.50 = 1.00; settled at 0 on the last session
    assert position.extra["settlement_spot"] == 100.0
    assert position.exit_debit == 0.0
    assert position.exit_date == pd.Timestamp(last_session).date()
    assert position.realized_pnl == pytest.approx(1.00 * 200 - 2.60)
    assert strat.broker.getvalue() == pytest.approx(CASH + 200 - 2.60)


def test_expiry_session_missing_from_the_data_settles_at_the_last_close_before_it():
    # the data lacks Friday the 19th (the expiry session): the spread settles on Monday
    # the 22nd, the first bar after it, at Thursday's close (96: worthless), never at
    # Monday's (80, after the expiry: the whole width)
    days = [d for d in sessions("2021-03-08", "2021-03-23") if d != pd.Timestamp("2021-03-19")]
    chain = typed({"2021-03-18": 96.0, "2021-03-22": 80.0, "2021-03-23": 80.0},
                  days=days, quotes={d: QUOTES.get(d, QUOTES[DAYS[-1]]) for d in days})
    strat = run(days, chain, {0: open_on()})
    (position,) = strat.broker.closed_spreads()
    assert position.exit_date == dt.date(2021, 3, 22)
    assert position.extra["settlement_spot"] == 96.0
    assert position.exit_debit == 0.0
    assert position.realized_pnl == pytest.approx(0.97 * 200 - 2.60)


def test_data_ending_before_expiry_leaves_the_spread_open_at_its_last_mark():
    # last bar the 16th (i=6): mark 1.30 - 0.38 = 0.92; unrealized (0.97 - 0.92) x 200 - 2.60
    strat = run(DAYS[:7], typed(), {0: open_on()})
    (row,) = strat.analyzers.spreads.get_analysis().to_dict("records")
    assert row["status"] == "open" and row["exit_date"] is None
    assert row["pnl"] == pytest.approx(7.40)
    assert strat.broker.getvalue() == pytest.approx(CASH + 7.40)


def test_close_waits_for_a_bar_of_its_own_symbol():
    # two symbols in one account: GAP (the spread's, priced by the typed chain under the
    # name SPY) lacks Friday the 12th. A close asked on Thursday the 11th must fill on
    # GAP's next bar, Monday the 15th, at that bar's quotes (95 ask 1.40 - 90 bid 0.35 =
    # 1.05), not on the 12th at the quotes of the 11th it was decided on (1.45 - 0.37).
    full = DAYS
    gap = [d for d in DAYS if d != pd.Timestamp("2021-03-12")]
    chain = typed(days=gap, quotes={d: QUOTES[d] for d in gap})
    strat = run(full, chain, {0: open_on(1), 3: lambda s: s.broker.close_spread(s, 1, "x")},
                feeds={"OTHER": bars_of(full), "SPY": bars_of(gap)})
    (position,) = strat.broker.closed_spreads()
    assert position.exit_date == dt.date(2021, 3, 15)
    assert position.exit_debit == pytest.approx(1.05)


# the underlying gaps from 100 to 88 on the 12th (i=4), both puts deep in the money and
# quoted wide: 95 put 9.70/10.50 (mid 10.10), 90 put 4.80/5.40 (mid 5.10). The natural
# debit is 10.50 - 4.80 = 5.70, but a 5-wide spread is never worth more than 5.00 (what it
# pays at most at expiry): nobody buys it back for more
DEEP = ((9.70, 10.50, 10.10), (4.80, 5.40, 5.10))


@pytest.mark.parametrize("fill, slippage", [("natural", 0.0), ("mid", 0.30)])
def test_closing_debit_is_capped_at_the_width(fill, slippage):
    quotes = {d: (QUOTES[d] if i < 4 else DEEP) for i, d in enumerate(DAYS)}
    chain = typed({d: 88.0 for d in DAYS[4:]}, quotes=quotes)
    strat = run(DAYS[:7], chain, {0: open_on(), 4: close_on("stop_loss")}, fill=fill,
                slippage=slippage)
    (position,) = strat.broker.closed_spreads()
    # natural 5.70 and mid 5.00 + 0.30 = 5.30 both capped at the width, 5.00: the loss is
    # the spread's max loss, (5 - credit) x 200, plus both orders' commissions (2 x 2.60)
    credit = 0.97 if fill == "natural" else 1.55 - 0.48 - 0.30
    assert position.exit_debit == pytest.approx(5.00)
    assert position.realized_pnl == pytest.approx((credit - 5.00) * 200 - 5.20)
    assert -position.realized_pnl == pytest.approx(position.max_loss + 5.20)
    # the two legs booked still add up to the debit paid: the excess (0.70 or 0.30) taken
    # off evenly, each leg inside its own bid/ask
    short_fill, long_fill = position.leg_fills[2:]
    assert short_fill.price - long_fill.price == pytest.approx(5.00)
    assert 9.70 <= short_fill.price <= 10.50 and 4.80 <= long_fill.price <= 5.40
    assert strat.broker.getvalue() == pytest.approx(CASH + position.realized_pnl)


def test_closing_limit_at_the_request_bar_is_capped_at_the_width():
    # quote_limits: the close asked on the 12th (deep quotes) gets its limit at that bar's
    # price, capped too: 5.00, which the 15th's capped debit (5.00) reaches, so it fills
    quotes = {d: (QUOTES[d] if i < 4 else DEEP) for i, d in enumerate(DAYS)}
    chain = typed({d: 88.0 for d in DAYS[4:]}, quotes=quotes)
    # the opening has a limit of its own (0.90, reached by the 9th's 0.97)
    opening = dataclasses.replace(REQUEST, limit_credit=0.90)
    strat = run(DAYS[:7], chain, {0: open_on(request=opening), 4: close_on("stop_loss")},
                quote_limits=True)
    (_, _, close_info) = [n for n in strat.notes if n[2].get("action") == "close"][-1]
    assert close_info["limit"] == pytest.approx(5.00)
    (position,) = strat.broker.closed_spreads()
    assert position.exit_debit == pytest.approx(5.00)


# a quote no market makes: the 95 put bid 5.20 and the 90 put asked at 0.10, a natural
# credit of 5.10 for a spread that can never pay more than 5.00
ARBITRAGE = ((5.20, 5.30, 5.25), (0.05, 0.10, 0.075))


@pytest.mark.parametrize("bad_day", [0, 1])  # the request bar, the fill bar
def test_a_credit_at_or_above_the_width_is_refused(bad_day):
    quotes = {d: (ARBITRAGE if i == bad_day else QUOTES[d]) for i, d in enumerate(DAYS)}
    strat = run(DAYS[:3], typed(quotes=quotes), {0: open_on()})
    (_, status, info) = strat.notes[-1]
    assert status == "Rejected"
    assert info["reason"].startswith("credit 5.10 at natural prices on ")
    assert "is not below the width 5" in info["reason"]
    assert strat.broker.open_spreads() == [] and strat.broker.getvalue() == CASH
