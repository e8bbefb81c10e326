"""Start-up: a command imports the heavy libraries only when it uses them.

scikit-learn, hmmlearn, scipy.stats and scipy.optimize took about a second to import, and
every command imported them through the indicators (``models.evaluation``, the regime and
strategy models), ``--help`` included; matplotlib came with every backtest, a report or
not. Each is now imported where it is used. These tests run a fresh interpreter (the test
process has imported everything already) and read which packages it loaded.
"""

from __future__ import annotations

from bench.bench_startup import loaded_after  # the packages in its HEAVY list


def test_the_command_line_starts_without_the_model_and_plotting_libraries():
    assert loaded_after("import run; run.build_parser()") == set()


def test_a_rule_backtest_without_a_report_loads_no_model_or_plotting_library():
    code = ("import run\n"
            "assert run.main(['backtest', '--source', 'sample', '--symbols', 'SPY', "
            "'--start-date', '2024-01-02', '--end-date', '2024-03-28', '--no-report', "
            "'-q']) == 0")
    # scipy.stats comes with empyrical, which computes the backtest's metrics
    assert loaded_after(code) == {"scipy.stats", "scipy.optimize"}


def test_the_libraries_still_load_where_they_are_used():
    """A model fit imports them on use: the regime classifier's HMM and scaler."""
    code = ("import numpy as np, pandas as pd\n"
            "from models.evaluation import score_predictor\n"
            "score_predictor([0, 1, 2, 1], [0, 1, 1, 1], [0.1, 0.2, -0.1, 0.0], "
            "[0.0, -0.1, 0.2, 0.1])\n"
            "from models.regimes import match_states\n"
            "match_states((np.zeros((2, 1)), np.ones((2, 1, 1))), "
            "(np.zeros((2, 1)), np.ones((2, 1, 1))))")
    assert {"sklearn", "scipy.stats", "scipy.optimize"} <= loaded_after(code)


def test_verbose_logging_keeps_the_runs_debug_lines_and_drops_font_lookups(caplog):
    """-v shows debug lines (ib_async's, ours), not matplotlib's findfont chatter."""
    import logging

    from cli.main import CHATTY_LOGGERS, configure_logging

    before = {name: logging.getLogger(name).level for name in CHATTY_LOGGERS}
    try:
        configure_logging(verbose=True, quiet=False)
        with caplog.at_level(logging.DEBUG):
            logging.getLogger("matplotlib.font_manager").debug("findfont: score(...) = 10.05")
            logging.getLogger("btml.ib").debug("connected")
        assert [r.name for r in caplog.records] == ["btml.ib"]
    finally:
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)
