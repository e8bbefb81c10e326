"""Seed 003's three modes on the multi-model Direction signal, as library code.

One job per module: ``settings`` (what a run needs, frozen), ``outcome`` (one symbol's
result and the notes of a run), ``sources`` (the daily source of each symbol and its
history), ``direction_store`` (the stored model that fits, else a new one trained and
stored), ``signals`` (a scored row as the signal printed and saved), ``backtest``,
``premarket``, ``minute_replay`` (the trading mode: partial bars minute by minute, IB
minutes included), ``results`` (the summary, the report folder, the signal files) and
``run`` (every symbol through the chosen mode). ``cli.ml_trading`` only parses the command
line into ``MLTradingSettings`` and calls ``run.execute``.
"""
