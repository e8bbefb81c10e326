"""Parameter sweeps and walk-forward runs on Dask, with overfitting statistics.

``grid`` reads ``--grid name=v1,v2`` against a strategy's config dataclass, ``runner`` plans
symbols x parameter sets x folds and runs them (serially or as Dask tasks) into a resumable
results store, ``overfitting`` holds the deflated Sharpe ratio and the probability of
backtest overfitting, ``walk_forward`` chooses each fold's set on the folds before it (the
out-of-sample answer), ``report`` writes the table, the heatmap and the best runs, and ``cli``
is the ``run.py sweep`` command.
"""
