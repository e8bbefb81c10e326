"""Our feed, indicators and strategy inside a plain backtrader script.

    python examples/own_backtrader_script.py [PLOT.png]

Runs the seeded sample market's SPY through the rule signal and the equity strategy, prints
the result, and saves backtrader's own plot headless.
"""

import sys

import backtrader as bt
import pandas as pd

from analyzers.bt_plot import save_backtrader_plot
from feeds.btfeed import make_feed
from feeds.sample_market import SampleMarket
from indicators import KalmanTrend, RuleSignal
from strategies import EquityConfig, EquityStrategy

bars = SampleMarket(seed=42).bars("SPY", "2023-01-03", "2024-12-31")
cerebro = bt.Cerebro()
cerebro.adddata(make_feed(bars, "SPY"))  # OHLCV plus the flow / IV lines
cerebro.addstrategy(EquityStrategy, config=EquityConfig(min_confidence=0.3),
                    signal_factory=RuleSignal, trade_start=pd.Timestamp("2023-04-03").date())
cerebro.addindicator(KalmanTrend)  # any of our indicators, plotted with the price
cerebro.broker.setcash(100_000)
# annualized and against a risk-free rate of 0, as run.py backtest reports it (backtrader's
# defaults give a daily ratio against 1 % a year, negative here beside a positive return)
cerebro.addanalyzer(bt.analyzers.SharpeRatio, _name="sharpe", timeframe=bt.TimeFrame.Days,
                    annualize=True, riskfreerate=0.0)
strategy = cerebro.run()[0]
print(f"final value {cerebro.broker.getvalue():,.2f}, Sharpe (annualized, risk-free 0) "
      f"{strategy.analyzers.sharpe.get_analysis()['sharperatio']:.2f}")
print("plot:", *save_backtrader_plot([strategy], sys.argv[1] if len(sys.argv) > 1 else
                                     "reports/own_script.png"))
