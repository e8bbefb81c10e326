"""End to end: ``run.py backtest`` prints the summary and writes every report file."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import run

ROOT = Path(__file__).resolve().parents[2]
WINDOW = ["--start-date", "2024-01-02", "--end-date", "2024-06-28"]
SYMBOL_FILES = ("metrics.json", "trades.csv", "returns.csv", "performance.csv",
                "returns_vs_market.png", "signal_distribution.png", "tearsheet_returns.png",
                "tearsheet_positions.png", "tearsheet_transactions.png")


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    argv = ["backtest", "--source", "sample", "--symbols", "SPY,QQQ", *WINDOW,
            "--report", str(out / "report"), "--export-lines", str(out / "lines.csv")]
    return out, argv


def test_backtest_writes_summary_and_every_report_file(sample_run, capsys):
    out, argv = sample_run
    assert run.main(argv) == 0
    printed = capsys.readouterr().out
    assert "Results Summary:" in printed
    for symbol in ("SPY", "QQQ"):
        assert re.search(rf"^{symbol}: Return: -?\d+\.\d\d%$", printed, re.MULTILINE)
        for name in SYMBOL_FILES:
            path = out / "report" / symbol / name
            assert path.is_file() and path.stat().st_size > 0, path
    for name in ("summary.txt", "metrics.json", "metrics.csv", "trades.csv", "index.html"):
        assert (out / "report" / name).stat().st_size > 0
    summary = (out / "report" / "summary.txt").read_text()
    assert summary in printed
    metrics = json.loads((out / "report" / "metrics.json").read_text())
    spy = metrics["symbols"]["SPY"]
    assert spy["start"] == "2024-01-02" and spy["end"] == "2024-06-28"
    assert f"SPY: Return: {100 * spy['total_return']:.2f}%" in printed
    # broker value change is the P&L of the trades when nothing is left open
    if spy["open_trades"] == 0:
        assert spy["final_value"] - 100_000 == pytest.approx(spy["net_pnl_closed"], abs=1e-6)


def test_exported_lines_cover_every_bar_and_indicator_line(sample_run, sample_market):
    out, _ = sample_run
    lines = pd.read_csv(out / "lines.csv")
    for column in ("date", "symbol", "close", "RuleSignal.signal", "RuleSignal.direction",
                   "RuleSignal.confidence"):
        assert column in lines.columns
    spy = lines[lines["symbol"] == "SPY"]
    bars = sample_market.bars("SPY", None, "2024-06-28")
    assert spy["date"].iloc[-1] == "2024-06-28"
    assert (bars.loc[pd.to_datetime(spy["date"]), "close"].to_numpy()
            == pytest.approx(spy["close"].to_numpy()))


def test_same_inputs_give_byte_identical_summaries(tmp_path, capsys):
    argv = ["backtest", "--source", "sample", "--symbols", "AAPL", *WINDOW, "--seed", "7"]
    outputs = []
    for i in range(2):
        assert run.main([*argv, "--report", str(tmp_path / f"r{i}")]) == 0
        capsys.readouterr()
        outputs.append((tmp_path / f"r{i}" / "summary.txt").read_bytes())
    assert outputs[0] == outputs[1]
    assert run.main([*argv, "--no-report", "--seed", "8"]) == 0
    assert capsys.readouterr().out.encode() != outputs[0]


def test_quiet_prints_only_the_results(capsys):
    assert run.main(["backtest", "--source", "sample", "--symbols", "SPY", *WINDOW,
                     "--no-report", "-q"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[0] == "Results Summary:"
    assert len(printed) == 2 and printed[1].startswith("SPY: Return: ")


def test_bundled_is_the_default_for_index_symbols(capsys):
    assert run.main(["backtest", "--symbols", "SPX", "--start-date", "2018-01-02",
                     "--end-date", "2018-03-29", "--no-report"]) == 0
    captured = capsys.readouterr()
    assert "SP500: Return: " in captured.out
    assert "real S&P 500" in captured.out


def test_the_sample_market_without_symbols_runs_its_own_default_symbols(capsys):
    """The default SP500,NASDAQ are the bundled indexes: with --source sample they were
    unknown symbols, an error for a command that named none."""
    assert run.main(["backtest", "--source", "sample", *WINDOW, "--no-report", "-q"]) == 0
    printed = capsys.readouterr().out
    assert "SPY: Return: " in printed and "QQQ: Return: " in printed
    assert run.main(["backtest", "--source", "sample", "--symbols", "SP500,NASDAQ", *WINDOW,
                     "--no-report", "-q"]) == 2  # named: refused, not replaced
    assert "unknown symbol 'SP500'" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--source", "sample", "--symbols", "NOPE"], "unknown symbol 'NOPE'"),
    (["--source", "sample", "--symbols", "SPY", "--start-date", "2024-05-01",
      "--end-date", "2024-01-01"], "is not before"),
    (["--source", "csv"], "--csv PATH"),
    (["--source", "bundled", "--symbols", "SP500", "--start-date", "2021-01-04",
      "--end-date", "2021-06-30"], "bundled has SP500 from 1999-01-04 to 2018-12-31"),
    (["--source", "sample", "--symbols", "SPY", "--signals", "ml", "--model", "latest",
      "--refit-every", "5"], "cannot use --model"),
    (["--source", "sample", "--symbols", "SPY", "--signals", "ml", "--model", "latest",
      "--head", "lstm"], "--head sets how the run trains its model; --model latest scores"),
    (["--source", "sample", "--symbols", "SPY", "--signals", "ml", "--model", "latest",
      "--epochs", "3"], "--epochs sets how the run trains its model; --model latest scores"),
    (["--source", "sample", "--symbols", "SPY", "--signals", "ml", "--train-years", "1"],
     "--train-years needs --refit-every N --window rolling"),
])
def test_bad_requests_exit_2_with_a_clear_error(argv, message, capsys):
    assert run.main(["backtest", *argv, "--no-report"]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("tables, refused", [
    ("[lstm]\nepochs = 3\n", "[lstm] set how the run trains its model; --model"),
    ("[hmm]\nn_iter = 5\n[model]\nhead = \"lstm\"\n", "[hmm], [model] set how the run"),
    ("[labels]\ndte_min = 25\n", None),  # scores the stored model's calls: it applies
])
def test_a_config_table_a_stored_model_would_ignore_is_refused(tables, refused, tmp_path,
                                                                capsys):
    """With --model the stored model scores as it was trained: a config file's [model],
    [lstm] or [hmm] tables were dropped in silence, as --head and --epochs were."""
    config = tmp_path / "model.toml"
    config.write_text(tables)
    assert run.main(["backtest", "--source", "sample", "--symbols", "SPY", "--signals", "ml",
                     "--model", str(tmp_path / "no-such-model"), "--config", str(config),
                     "--no-report"]) == 2
    err = capsys.readouterr().err
    if refused:
        assert refused in err
    else:
        assert "set how the run trains" not in err and "no-such-model" in err


@pytest.mark.parametrize("argv, message", [
    (["--strategy", "credit-spread", "--stop-multiple", "0.5"],
     "error: --stop-multiple 0.5 is invalid: must be above 1"),
    (["--strategy", "credit-spread", "--dte-min", "45", "--dte-max", "30"],
     "error: --dte-min 45 is above --dte-max 30"),
    (["--strategy", "credit-spread", "--width", "-5"],
     "error: --width -5.0 is invalid: must be positive"),
    (["--strategy", "credit-spread", "--target-delta", "0"],
     "error: --target-delta 0.0 is invalid: must be between 0 and 1"),
    (["--min-confidence", "1.5"], "error: --min-confidence 1.5 is invalid: must be from 0 to 1"),
])
def test_strategy_rules_the_config_refuses_exit_2_before_any_work(argv, message, capsys,
                                                                  monkeypatch):
    def no_source(*args, **kwargs):
        raise AssertionError("a source was opened for a refused config")

    monkeypatch.setattr("feeds.sources.make_source", no_source)
    assert run.main(["backtest", "--source", "sample", "--symbols", "SPY", *argv,
                     "--no-report"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(message) and captured.out == ""


def test_the_config_is_built_from_the_registry_spec_and_the_flags():
    from cli.strategy_config import config_from_args
    from strategies import CreditSpreadConfig, EquityConfig
    from strategies.registry import strategy_spec

    args = run.build_parser().parse_args(["backtest", "--strategy", "credit-spread",
                                          "--target-delta", "0.2", "--width", "10",
                                          "--stop-multiple", "3"])
    assert config_from_args(strategy_spec(args.strategy), args) == CreditSpreadConfig(
        target_delta=0.2, width=10.0, stop_multiple=3.0)
    args = run.build_parser().parse_args(["backtest", "--min-confidence", "0.5",
                                          "--allow-short", "--stop-multiple", "0.5"])
    # the equity strategy takes only its own flags: a spread rule it never uses is not read
    assert config_from_args(strategy_spec(args.strategy), args) == EquityConfig(
        min_confidence=0.5, allow_short=True)


def test_store_label_is_backtests_name_for_the_store_folder():
    args = run.build_parser().parse_args(["backtest", "--store-label", "prod"])
    assert args.store_label == "prod"
    with pytest.raises(SystemExit):  # --mode is ml-trading's run mode, not a store label
        run.build_parser().parse_args(["backtest", "--mode", "prod"])
    assert run.build_parser().parse_args(["train", "--mode", "prod"]).store_label == "prod"


def test_malformed_csv_is_refused_naming_file_and_line(tmp_path, capsys):
    path = tmp_path / "XYZ.csv"
    path.write_text("date,open,high,low,close,volume\n2024-01-02,10,11,9,10,100\n"
                    "2024-01-03,10,9,11,10,100\n")
    assert run.main(["backtest", "--source", "csv", "--csv", str(path), "--symbols", "XYZ",
                     "--no-report"]) == 2
    err = capsys.readouterr().err
    assert "XYZ.csv" in err and "line 3" in err and "below" in err


def test_help_explains_every_option():
    result = subprocess.run([sys.executable, "run.py", "backtest", "--help"], cwd=ROOT,
                            capture_output=True, text=True, check=True)
    for option in ("--symbols", "--start-date", "--end-date", "--source", "--strategy",
                   "--signals", "--cash", "--report", "--export-lines", "--seed", "--quiet",
                   "--verbose", "--csv"):
        assert option in result.stdout


def test_ml_backtest_refits_a_model_every_n_sessions(tmp_path, tiny_config, capsys):
    lines = tmp_path / "lines.csv"
    code = run.main(["backtest", "--symbols", "SPY", "--source", "sample", "--signals", "ml",
                     "--config", str(tiny_config), "--start-date", "2024-01-02",
                     "--end-date", "2024-02-28", "--refit-every", "20", "--window", "rolling",
                     "--train-years", "0.3", "--no-report", "--export-lines", str(lines)])
    assert code == 0
    captured = capsys.readouterr()
    assert "SPY: Return:" in captured.out
    assert "a model every 20 sessions (rolling window)" in captured.err
    assert "refits: 100%" in captured.err and "2/2" in captured.err
    exported = pd.read_csv(lines, parse_dates=["date"])
    scored = exported[exported["date"] >= "2024-01-02"]
    assert len(scored) == 40
    assert scored["StrategySignal.p_put"].notna().all()


def test_a_strategy_that_never_trades_still_gets_every_report_file(tmp_path, capsys):
    report = tmp_path / "report"
    assert run.main(["backtest", "--source", "sample", "--symbols", "SPY", *WINDOW,
                     "--min-confidence", "1.0", "--report", str(report), "-q"]) == 0
    assert capsys.readouterr().out.splitlines()[1] == "SPY: Return: 0.00%"
    trades = pd.read_csv(report / "SPY" / "trades.csv")
    assert trades.empty
    for name in SYMBOL_FILES:
        assert (report / "SPY" / name).stat().st_size > 0, name


def test_a_history_shorter_than_the_warm_up_is_refused_not_a_silent_zero(tmp_path, capsys):
    """30 sessions cannot warm up a 60-session signal: exit 2 and the reason, not 0.00 %."""
    dates = pd.bdate_range("2021-01-04", periods=30)
    (tmp_path / "SHORT.csv").write_text("date,open,high,low,close,volume\n" + "\n".join(
        f"{d:%Y-%m-%d},100,101,99,100.5,1000" for d in dates) + "\n")
    assert run.main(["backtest", "--source", "csv", "--csv", str(tmp_path), "--symbols",
                     "SHORT", "--no-report", "-q"]) == 2
    err = capsys.readouterr().err
    assert "error: SHORT: csv has 30 bars of SHORT" in err
    assert "60 sessions of warm-up" in err and "Traceback" not in err


class _Stop(Exception):
    """Ends a run right after the checks made before any work."""


@pytest.mark.parametrize("flags, started", [(["--head", "lstm"], True),
                                            (["--head", "regime"], False),
                                            (["--head", "lstm", "--no-report"], False)])
def test_an_lstm_backtest_starts_the_report_fork_server_before_training(monkeypatch, tmp_path,
                                                                       flags, started):
    """keras will be loaded, so the report's workers must come from the fork server
    (``analyzers.render_pool``): it is started before any training, with the module of the
    results the workers unpickle; a run without keras or without a report starts none."""
    import analyzers.render_pool as render_pool
    from cli import options

    asked = []
    monkeypatch.setattr(render_pool, "start_render_server", lambda *m: asked.append(m))

    def stop(*args, **kwargs):
        raise _Stop

    monkeypatch.setattr(options, "source_from_args", stop)
    report = [] if "--no-report" in flags else ["--report", str(tmp_path / "r")]
    with pytest.raises(_Stop):
        run.main(["backtest", "--signals", "ml", *report, *flags])
    assert asked == ([("engine.backtest",)] if started else [])


@pytest.mark.parametrize("per_contract", [0.0, 1.25])
def test_credit_spreads_pay_the_commission_per_contract_given(tmp_path, per_contract, capsys):
    """``--commission-per-contract`` reaches the options broker (two legs an order) and the
    report records it, not the share rate the spreads never pay."""
    report = tmp_path / "report"
    assert run.main(["backtest", "--source", "sample", "--symbols", "SPY", *WINDOW,
                     "--strategy", "credit-spread", "--commission-per-contract",
                     str(per_contract), "--report", str(report), "-q"]) == 0
    saved = json.loads((report / "metrics.json").read_text())
    assert saved["run"]["commission_per_contract"] == per_contract
    assert "commission" not in saved["run"]
    assert saved["run"]["settings"] == {  # the defaults the run traded with, recorded
        "target_delta": 0.3, "width": None, "dte_min": 30, "dte_max": 45, "profit_take": 0.5,
        "stop_multiple": 2.0, "close_days_before_expiry": 5, "max_open_spreads": 3,
        "entry_spacing": 5, "risk_per_trade": 0.02, "max_portfolio_risk": 0.3,
        "skip_regimes": [], "option_fill": "natural", "option_slippage": 0.0}
    assert "target_delta=0.3, width=default, dte_min=30" in (report / "index.html").read_text()
    spreads = pd.read_csv(report / "SPY" / "spreads.csv")
    assert len(spreads)
    # an opening order, and a closing one unless it expired or is still open
    orders = 2 - ((spreads["exit_reason"] == "expiry") | (spreads["status"] == "open"))
    assert spreads["commission"].to_numpy() == pytest.approx(
        (per_contract * 2 * spreads["contracts"] * orders).to_numpy())


def test_an_ml_backtest_scores_its_calls_beside_the_baselines(tmp_path, capsys):
    """A return says little about a model: the signal's calls on the traded sessions are
    scored against the strategy labels beside the majority class, the rule signal, the
    true-regime oracle (the sample market knows it) and perfect foresight."""
    config = tmp_path / "hmm.toml"
    config.write_text("[hmm]\nn_init = 1\nn_iter = 20\n")
    report = tmp_path / "report"
    assert run.main(["backtest", "--source", "sample", "--symbols", "SPY", "--signals", "ml",
                     "--config", str(config), *WINDOW, "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "ML signal on the traded sessions (out of sample" in out
    rows = {line.split()[1]: line.split() for line in out.splitlines()
            if line.startswith("SPY ") and len(line.split()) == 7}
    assert set(rows) == {"model", "majority", "rule", "oracle", "foresight"}
    assert rows["foresight"][3] == "1.000"  # foresight calls every label
    sessions = int(rows["model"][2])
    assert 60 < sessions <= 124 and {int(r[2]) for r in rows.values()} == {sessions}
    pnl = {name: float(r[5].rstrip("%")) for name, r in rows.items()}
    assert max(pnl.values()) == pnl["foresight"]  # nothing beats knowing the outcome
    saved = json.loads((report / "metrics.json").read_text())["symbols"]["SPY"]
    scores = saved["ml_signal_scores"]
    assert set(scores) == set(rows) and scores["model"]["n"] == sessions
    assert f"{scores['model']['accuracy']:.3f}" == rows["model"][3]
    # the report's summary is the printed one, byte for byte, the score table included
    written = (report / "summary.txt").read_text()
    assert "ML signal on the traded sessions (out of sample" in written
    assert out.startswith(written)
    assert "ML signal on the traded sessions" in (report / "index.html").read_text()


def test_an_ml_portfolio_backtest_scores_each_symbols_calls(tmp_path, capsys):
    """The same table with --portfolio: each symbol's calls from the one account's run,
    printed and kept per symbol in the portfolio's metrics."""
    config = tmp_path / "hmm.toml"
    config.write_text("[hmm]\nn_init = 1\nn_iter = 20\n")
    report = tmp_path / "report"
    assert run.main(["backtest", "--source", "sample", "--symbols", "SPY,QQQ", "--signals",
                     "ml", "--portfolio", "--config", str(config), *WINDOW, "--report",
                     str(report), "-q"]) == 0
    assert "ML signal on the traded sessions" not in capsys.readouterr().out  # -q
    scores = json.loads((report / "metrics.json").read_text())["portfolio"]["ml_signal_scores"]
    assert set(scores) == {"SPY", "QQQ"}
    for table in scores.values():
        assert set(table) == {"model", "majority", "rule", "oracle", "foresight"}
        assert table["foresight"]["accuracy"] == 1.0 and table["model"]["n"] > 60


EQUITY_DEFAULTS = {"min_confidence": 0.25, "target_percent": 0.95, "allow_short": False,
                   "scale_by_confidence": False}


@pytest.mark.parametrize("argv, recorded", [
    (["backtest", "--strategy", "credit-spread", "--target-delta", "0.16", "--width", "10",
      "--option-fill", "mid"],
     {"settings": {"target_delta": 0.16, "width": 10.0, "dte_min": 30, "dte_max": 45,
                   "profit_take": 0.5, "stop_multiple": 2.0, "close_days_before_expiry": 5,
                   "max_open_spreads": 3, "entry_spacing": 5, "risk_per_trade": 0.02,
                   "max_portfolio_risk": 0.3, "skip_regimes": [], "option_fill": "mid",
                   "option_slippage": 0.0}}),
    (["backtest", "--min-confidence", "0.6", "--allow-short"],
     {"settings": {"min_confidence": 0.6, "target_percent": 0.95, "allow_short": True,
                   "scale_by_confidence": False}}),
    (["backtest", "--signals", "ml", "--head", "lstm", "--epochs", "3", "--refit-every", "60"],
     {"settings": EQUITY_DEFAULTS,
      "ml": {"model": "trained by this run", "head": "lstm", "epochs": 3, "refit_every": 60,
             "window": "expanding"}}),
    (["backtest", "--signals", "ml", "--model", "latest"],
     {"settings": EQUITY_DEFAULTS, "ml": {"model": "latest"}}),
])
def test_the_report_header_records_the_strategy_settings_and_the_ml_model(argv, recorded):
    """Two reports of different deltas, widths or models can be told apart from their
    metrics.json alone."""
    from cli import options
    from cli.main import build_parser
    from cli.strategy_config import config_from_args
    from strategies.registry import strategy_spec

    args = build_parser().parse_args(argv)
    config = config_from_args(strategy_spec(args.strategy), args)
    assert options.strategy_settings(args, config) == recorded


def test_every_rule_a_sweep_varies_can_be_set_on_a_backtest(tmp_path):
    """A sweep's best parameter set is rerun with backtest's own report: the rules only the
    grid could set (spacing, the open-spread cap, the time exit, regimes to skip; the equity
    sizing) are flags, recorded in run.settings, and change what is traded."""
    def settings_and_spreads(*flags):
        report = tmp_path / ("_".join(flags).replace("-", "") or "defaults")
        assert run.main(["backtest", "--source", "sample", "--symbols", "SPY", *WINDOW,
                         "--strategy", "credit-spread", *flags, "--report", str(report),
                         "-q"]) == 0
        saved = json.loads((report / "metrics.json").read_text())
        return saved["run"]["settings"], pd.read_csv(report / "SPY" / "spreads.csv")

    settings, spreads = settings_and_spreads("--entry-spacing", "15", "--max-open-spreads",
                                             "1", "--close-days-before-expiry", "0")
    assert (settings["entry_spacing"], settings["max_open_spreads"],
            settings["close_days_before_expiry"]) == (15, 1, 0)
    _, default = settings_and_spreads()
    assert 0 < len(spreads) < len(default)
    # rule signals have no regime line: no code, and no name, at entry
    assert spreads["regime_at_entry"].isna().all() and spreads["regime_name_at_entry"].isna().all()
    entered = pd.to_datetime(spreads["entry_date"])
    assert (entered.diff().dropna() >= pd.Timedelta(days=15)).all()  # one at a time, spaced
    assert run.main(["backtest", "--source", "sample", "--symbols", "SPY", *WINDOW,
                     "--target-percent", "0.5", "--scale-by-confidence", "--no-report",
                     "-q"]) == 0


def test_a_refit_block_too_short_says_what_a_backtest_can_change(tmp_path, capsys):
    """A backtest has no --folds: a first refit block too short for the HMM advised 'use
    fewer --folds'; it names the backtest's own lever, a later --start-date."""
    assert run.main(["backtest", "--symbols", "SPY", "--source", "sample", "--signals", "ml",
                     "--refit-every", "60", "--start-date", "2008-06-02", "--end-date",
                     "2009-06-01", "--no-report", "-q"]) == 2
    error = capsys.readouterr().err.splitlines()[-1]
    assert error.startswith("error: SPY: the walk-forward block that trains up to 2008-05-30: "
                            "104 bars up to 2008-05-30 are too short a history")
    assert error.endswith("start the blocks later (train: fewer --folds; backtest: a later "
                          "--start-date) or give a longer history")
