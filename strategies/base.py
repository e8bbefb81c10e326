"""What every strategy of ours shares: one signal indicator per symbol and a warm-up."""

from __future__ import annotations

import backtrader as bt

from indicators.bar_frames import session_date
from indicators.rule_signal import RuleSignal


class SignalStrategy(bt.Strategy):
    """Builds ``self.signals[data]`` from ``signal_factory`` for every data feed.

    ``trade_start`` (a date): bars before it only warm the indicators up; subclasses ask
    ``warming_up()`` at the top of ``next`` and trade nothing while it is true. A live IB
    feed's bars are dated by the exchange (``bar_frames.session_date``), not by the zone
    they are shown in; a strategy's message that names a bar's date uses the same date, so
    it names the session the decision was made on (``data.datetime.date(0)`` is the display
    zone's: a day later in Tokyo for a daily bar).

    Several symbols in one account (a portfolio backtest, a paper run on several symbols)
    need not share a calendar: on a date one symbol has no bar (its exchange's holiday, a
    gap in its CSV) backtrader shows that symbol's last bar again, never a later one.
    ``fresh_datas()`` names the symbols with a new bar, so a strategy decides once per bar
    of each symbol and never twice on one stale bar.
    """

    params = (
        ("signal_factory", RuleSignal),
        ("trade_start", None),
    )

    def __init__(self):
        self.signals = {data: self.p.signal_factory(data) for data in self.datas}
        self._bars_seen = {data: 0 for data in self.datas}
        self._warmed_up = False

    def warming_up(self) -> bool:
        """Whether the bar is before ``trade_start``. The strategy's clock never goes
        back, so once a bar reaches it the answer stays False without converting each
        later bar's date (a tenth of a bar's time)."""
        if self._warmed_up:
            return False
        if self.p.trade_start is None or session_date(self.datas[0]) >= self.p.trade_start:
            self._warmed_up = True
            return False
        return True

    def fresh_datas(self) -> list:
        """The datas that got a new bar since the last call (call it once per ``next``,
        warm-up included)."""
        fresh = [data for data in self.datas if len(data) > self._bars_seen[data]]
        for data in fresh:
            self._bars_seen[data] = len(data)
        return fresh
