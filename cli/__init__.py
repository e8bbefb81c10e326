"""The commands of ``run.py``: one module per command (``backtest``, ``data``, ``train``,
``paper``, ``ml_trading``, ``sweep``); the options they share declared once in ``options``
(argument types in ``arg_types``), a strategy's config from the flags in
``strategy_config``; ``main`` builds the parser and turns ``DataError`` into
``error: ...`` and exit code 2."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")  # reports render headless
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
