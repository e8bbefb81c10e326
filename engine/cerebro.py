"""The cerebro every run of ours uses: backtrader's, without its writers' report when no
writer was added.

When a run stops, ``bt.Cerebro.stop_writers`` gathers every data's and every strategy's
writer information, which asks every analyzer for ``get_analysis()``, even when there is no
writer to hand it to; the backtest then asks again to collect its results. For the
analyzers that turn a whole run into frames (option legs' positions, spread rows) that
unread first build, and the copies that kept it from being built twice, cost about 2 % of a
credit-spread backtest (CPU time, measured in turns with the commit before). With a
writer added (``addwriter``) it runs as backtrader's.
"""

from __future__ import annotations

import backtrader as bt


class RunCerebro(bt.Cerebro):
    """``bt.Cerebro`` that skips the writers' report of a run without writers."""

    def stop_writers(self, runstrats):
        if not self.runwriters:
            return
        super().stop_writers(runstrats)
