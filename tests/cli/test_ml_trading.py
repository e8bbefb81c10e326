"""``run.py ml-trading`` (and ``premarket`` / ``trading``) end to end with tiny tree-only
direction models: three trainings in all (a backtest, a trading replay whose stored model the
premarket runs reuse)."""

from __future__ import annotations

import contextlib
import io
import json
import re
import socket
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import run
from cli import ml_trading
from core.errors import DataError
from engine.ml_trading import minute_replay
from engine.ml_trading.results import CALL_LEGEND
from feeds.sample_market import SampleMarket
from models.direction_store import direction_dir

ROOT = Path(__file__).resolve().parents[2]
TREES = """
[direction]
members = ["xgboost", "random_forest", "gradient_boosting"]
n_estimators = 10
max_train_bars = 300
n_folds = 2
min_train_samples = 60
"""
SIGNAL = r"Direction: (BUY|SELL|NEUTRAL), Confidence: (\d\.\d\d)"
NO_KEYS = ("POLYGON_API_KEY", "MASSIVE_API_KEY", "UNUSUAL_WHALES_API_KEY")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder to run in, without API keys (so ``auto`` means bundled or sample)."""
    folder = tmp_path_factory.mktemp("ml_trading")
    (folder / "trees.toml").write_text(TREES)
    with pytest.MonkeyPatch.context() as mp:
        for name in NO_KEYS:
            mp.setenv(name, "")  # set but empty: neither .env nor the environment gives one
        mp.chdir(folder)
        yield folder


def execute(argv: list[str]):
    """Parse like run.py, run the handler; returns exit code, outcomes and stdout."""
    args = run.build_parser().parse_args(argv)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code, outcomes = ml_trading.execute(args)
    return code, {o.symbol: o for o in outcomes}, out.getvalue()


def results(printed: str) -> list[str]:
    """The lines from ``Results Summary:`` to the next blank line."""
    lines = printed.splitlines()
    first = lines.index("Results Summary:")
    block = lines[first:]
    return block[:block.index("")] if "" in block else block


# ---------------------------------------------------------------------------- backtest
@pytest.fixture(scope="module")
def backtest_run(workdir):
    # the tiny ten-tree model is rarely confident (its calls' equal-weighted probability
    # stays near 1/3): a threshold under 1/3 makes every call trade, so the run has trades
    # to report
    return execute(["ml-trading", "--symbols", "SP500,AAPL,NOPE", "--start-date", "2008-03-03",
                    "--end-date", "2008-05-30", "--config", "trees.toml", "--allow-short",
                    "--min-confidence", "0.3", "--report", str(workdir / "report")])


def test_backtest_prints_returns_and_per_symbol_errors(backtest_run):
    code, outcomes, printed = backtest_run
    assert code == 1  # a symbol failed; the others ran
    summary = results(printed)
    assert re.fullmatch(r"SP500: Return: -?\d+\.\d\d%", summary[1])
    assert summary[2].startswith("AAPL: error: too little history to train the direction "
                                 "model: 41 bars")
    assert summary[3].startswith("NOPE: error: unknown symbol 'NOPE' for source 'sample'")
    table = printed.split("Results Summary:")[1].split("\n\n")[1].splitlines()
    assert table[0].split() == ["symbol", "return", "annual", "sharpe", "max", "dd", "trades",
                                "win", "rate", "hit", "rate", "buy&hold"]
    # which source served each symbol (no keys: bundled real data, else the sample market)
    assert re.search(r"^  SP500 +bundled: real S&P 500", printed, re.MULTILINE)
    assert re.search(r"^  AAPL +sample: simulated", printed, re.MULTILINE)
    # the model beside its baselines, out of sample (bundled data: no oracle row)
    warned = printed.split("Results Summary:")[1].split("\n\n")[2]
    assert warned.startswith("warning: SP500: no trade closed: the ")  # one short, held
    check = printed.split("Results Summary:")[1].split("\n\n")[3].splitlines()
    assert check[0].split()[:5] == ["direction", "model", "(walk-forward)", "bars", "accuracy"]
    assert [line.split()[1] for line in check[1:5]] == ["meta", "logistic", "majority",
                                                        "foresight"]
    evaluation = outcomes["SP500"].model.evaluation_
    assert check[1].split()[4] == f"{evaluation.loc['meta', 'log_loss']:.3f}"
    assert check[1].split()[5] == f"{evaluation.loc['meta', 'side_log_loss']:.3f}"
    # and whether the difference from the majority class is more than the bars' noise
    versus = outcomes["SP500"].model.fit_info_["meta_vs_majority"]
    # (after the legend of the edge columns, all '-' here: no oracle on real data)
    assert check[5].startswith("edge loss / edge P&L: ") and "no oracle" in check[5]
    assert [line.split()[-2:] for line in check[1:5]] == [["-", "-"]] * 4
    assert check[6].startswith(f"SP500: meta log loss minus majority's "
                               f"{versus['log_loss_difference']:+.3f}, paired standard error "
                               f"{versus['standard_error']:.3f} over 65 bars (")
    result = outcomes["SP500"].result
    assert summary[1] == f"SP500: Return: {100 * result.metrics['total_return']:.2f}%"
    assert result.metrics["trades"] + result.metrics["open_trades"] > 0


def test_backtest_trains_on_bars_before_the_start_only(backtest_run):
    _, outcomes, _ = backtest_run
    model = outcomes["SP500"].model
    assert model.trained_until == pd.Timestamp("2008-02-29")  # the session before 03-03
    assert model.fit_info_["train_end"] < pd.Timestamp("2008-03-03")
    # the strategy traded on this model's own scores, bar for bar
    from feeds.bundled import BundledMarket

    bars = BundledMarket(cache=None).bars("SP500", None, "2008-05-30")
    expected = model.predict_frame(bars)["direction"]
    lines = outcomes["SP500"].result.lines
    recorded = pd.Series(lines["Direction.direction"].to_numpy(),
                         index=pd.to_datetime(lines["date"]))
    window = recorded[recorded.index >= "2008-03-03"]
    assert len(window) == 63
    assert (window == expected.reindex(window.index)).all()


def test_backtest_writes_the_report_folder(backtest_run, workdir):
    _, outcomes, printed = backtest_run
    report = workdir / "report"
    summary = (report / "summary.txt").read_text()
    assert "Results Summary:" in summary and summary in printed
    metrics = json.loads((report / "metrics.json").read_text())
    assert set(metrics["symbols"]) == {"SP500"}
    assert metrics["symbols"]["SP500"]["start"] == "2008-03-03"
    for name in ("metrics.json", "trades.csv", "tearsheet_returns.png",
                 "signal_distribution.png", "direction_evaluation.csv",
                 "feature_importance.csv"):
        assert (report / "SP500" / name).stat().st_size > 0, name
    evaluation = pd.read_csv(report / "SP500" / "direction_evaluation.csv", index_col=0)
    assert {"meta", "majority", "always_buy", "xgboost"} <= set(evaluation.index)
    importance = pd.read_csv(report / "SP500" / "feature_importance.csv")  # named columns
    assert list(importance.columns) == ["feature", "importance"] and len(importance)


def test_start_date_beyond_the_data_is_a_per_symbol_error(workdir):
    code, _, printed = execute(["ml-trading", "--source", "sample", "--symbols", "AAPL",
                                "--start-date", "2026-01-05", "--end-date", "2026-02-27",
                                "--config", "trees.toml", "--no-report", "-q"])
    assert code == 1
    assert printed.splitlines() == [
        "Results Summary:",
        "AAPL: error: --start-date 2026-01-05 is after the last bar sample has for AAPL "
        "(2025-12-31)"]


# ---------------------------------------------------------------------------- trading
@pytest.fixture(scope="module")
def trading_run(workdir):
    """The 2025-11-28 session (13:00 close: 210 minutes) replayed for MSFT; SP500 comes
    from the bundled data, which has no minute bars."""
    return execute(["trading", "--symbols", "MSFT,SP500", "--end-date", "2025-11-28",
                    "--config", "trees.toml", "--models-dir", str(workdir / "store"),
                    "--report", str(workdir / "signals"), "-q"])


def last_partial_bar_signal(model) -> tuple[str, float]:
    """The model on every MSFT session before 2025-11-28 plus that day's bar as known at
    its last minute (built here from the minute bars, by the documented rule)."""
    market = SampleMarket(seed=42)
    bars = market.bars("MSFT", None, "2025-11-28")
    minutes = market.minute_bars("MSFT", "2025-11-28", "2025-11-28")
    row = bars.iloc[-2].copy()  # previous session's flow, IV, ...
    row["open"], row["close"] = minutes["open"].iloc[0], minutes["close"].iloc[-1]
    row["high"], row["low"] = minutes["high"].max(), minutes["low"].min()
    row["volume"] = minutes["volume"].sum()
    for column in minute_replay.SCHEDULED:
        row[column] = bars[column].iloc[-1]
    frame = pd.concat([bars.iloc[:-1], row.to_frame().T.set_axis([bars.index[-1]])])
    scored = model.predict_frame(frame.astype(bars.dtypes.to_dict())).iloc[-1]
    return ("SELL", "NEUTRAL", "BUY")[int(scored["direction"]) + 1], scored["confidence"]


def test_trading_prints_each_change_then_the_summary(trading_run):
    code, outcomes, printed = trading_run
    assert code == 1  # SP500 failed
    lines = printed.splitlines()
    cut = lines.index("Results Summary:")
    changes = [re.fullmatch(rf"2025-11-28 (\d\d:\d\d) MSFT: {SIGNAL}", line)
               for line in lines[:cut]]
    assert all(changes) and changes[0].group(1) == "09:30"
    directions = [m.group(2) for m in changes]
    assert all(a != b for a, b in zip(directions, directions[1:], strict=False))
    assert re.fullmatch(rf"MSFT: {SIGNAL}", lines[cut + 1])
    assert lines[cut + 2] == ("SP500: error: bundled has no minute bars; trading mode needs "
                              "them (--source polygon, or --source sample for its symbols "
                              "SPY,QQQ,IWM,AAPL,MSFT,GOOGL,AMZN,TSLA)")
    assert len(lines) == cut + 3
    # the final line is the model on the last partial bar (which is the whole day's OHLCV)
    direction, confidence = last_partial_bar_signal(outcomes["MSFT"].model)
    assert lines[cut + 1] == f"MSFT: Direction: {direction}, Confidence: {confidence:.2f}"
    assert outcomes["MSFT"].signal["as_of"] == "2025-11-28 12:59"


def test_trading_saves_signals_changes_and_its_model(trading_run, workdir):
    _, outcomes, printed = trading_run
    changes = pd.read_csv(workdir / "signals" / "trading_2025-11-28_changes.csv")
    printed_changes = [line for line in printed.splitlines() if line.startswith("2025-11-28 ")]
    assert [f"{r.as_of} {r.symbol}: Direction: {r.direction}, Confidence: {r.confidence:.2f}"
            for r in changes.itertuples()] == printed_changes
    saved = json.loads((workdir / "signals" / "trading_2025-11-28.json").read_text())
    assert saved["as_of"] == "2025-11-28"
    assert saved["signals"][0]["as_of"] == "2025-11-28 12:59"
    assert saved["errors"]["SP500"].startswith("bundled has no minute bars")
    final = saved["signals"][0]
    assert f"MSFT: Direction: {final['direction']}, Confidence: {final['confidence']:.2f}" \
        in printed
    model = outcomes["MSFT"].model
    assert model.trained_until == pd.Timestamp("2025-11-26")  # the session before
    stored = direction_dir("MSFT", workdir / "store")
    assert (stored / "latest" / "metadata.json").is_file()
    assert json.loads((stored / "latest" / "metadata.json").read_text())["source"] == "sample"


# ---------------------------------------------------------------------------- premarket
def test_premarket_reuses_the_stored_model_and_saves_its_signals(trading_run, workdir):
    trading_model = trading_run[1]["MSFT"].model
    code, outcomes, printed = execute(
        ["premarket", "--source", "sample", "--symbols", "MSFT", "--end-date", "2025-11-26",
         "--config", "trees.toml", "--models-dir", str(workdir / "store"),
         "--report", str(workdir / "signals"), "-q"])
    assert code == 0
    lines = printed.splitlines()
    assert lines[0] == "Results Summary:" and re.fullmatch(rf"MSFT: {SIGNAL}", lines[1])
    assert CALL_LEGEND not in printed  # -q: the results only
    signal = outcomes["MSFT"].signal
    assert signal["model"].startswith("stored model ")  # no training this time
    bars = SampleMarket(seed=42).bars("MSFT", None, "2025-11-26")
    expected = trading_model.predict_frame(bars).iloc[-1]
    assert signal["confidence"] == pytest.approx(expected["confidence"], abs=1e-12)
    assert signal["direction_value"] == expected["direction"]
    table = pd.read_csv(workdir / "signals" / "premarket_2025-11-26.csv")
    saved = json.loads((workdir / "signals" / "premarket_2025-11-26.json").read_text())
    assert saved["as_of"] == "2025-11-26" and table["as_of"].tolist() == ["2025-11-26"]
    created = pd.Timestamp(saved["created_at"])  # an instant, in New York time
    assert created.tzinfo is not None and created.utcoffset() in (
        pd.Timedelta(hours=-5), pd.Timedelta(hours=-4))
    for row in (table.iloc[0], saved["signals"][0]):
        assert lines[1] == f"MSFT: Direction: {row['direction']}, Confidence: " \
                           f"{row['confidence']:.2f}"



def test_premarket_says_which_stored_model_it_scores_with_and_how_old(trading_run, workdir):
    """A stored model is reused however old it is: the run says so (not only in the signal
    files), naming the folder and how many sessions its training stops before the as-of
    date, so a stale model is not traded in silence."""
    code, outcomes, printed = execute(
        ["premarket", "--source", "sample", "--symbols", "MSFT", "--end-date", "2025-12-05",
         "--config", "trees.toml", "--models-dir", str(workdir / "store"),
         "--report", str(workdir / "signals")])
    assert code == 0
    note = outcomes["MSFT"].model_note
    assert note.startswith("stored model ") and "trained until 2025-11-26" in note
    assert re.search(r"^note: MSFT scores with the stored model \S+ \(trained until "
                     r"2025-11-26\), 6 sessions before 2025-12-05 \(--retrain", printed,
                     re.MULTILINE)
    _, _, quiet = execute(
        ["premarket", "--source", "sample", "--symbols", "MSFT", "--end-date", "2025-12-05",
         "--config", "trees.toml", "--models-dir", str(workdir / "store"),
         "--report", str(workdir / "signals"), "-q"])
    assert "note:" not in quiet

def test_premarket_says_when_the_data_ends_before_today(trading_run, workdir):
    code, outcomes, printed = execute(
        ["premarket", "--source", "sample", "--symbols", "MSFT", "--config", "trees.toml",
         "--models-dir", str(workdir / "store"), "--report", str(workdir / "signals")])
    assert code == 0
    assert re.search(r"^note: sample data ends 2025-12-31, before today \(\d{4}-\d\d-\d\d\): "
                     r"ending there \(MSFT\)$", printed, re.MULTILINE)
    assert outcomes["MSFT"].signal["as_of"] == "2025-12-31"
    assert re.search(rf"^MSFT: {SIGNAL}$", printed, re.MULTILINE)
    assert (workdir / "signals" / "premarket_2025-12-31.json").is_file()
    # the call is not the most probable class: said under the summary (not with -q)
    assert f"\n\n{CALL_LEGEND}\n" in printed


def test_trading_without_an_end_date_replays_the_last_session_the_source_has(workdir):
    """The default way to run it (no --end-date): today is past the sample market's end, so
    its last session is replayed, with a note (a local named like the ``today()`` helper
    once made this a traceback)."""
    code, outcomes, printed = execute(
        ["trading", "--source", "sample", "--symbols", "MSFT", "--config", "trees.toml",
         "--models-dir", str(workdir / "store"), "--report", str(workdir / "last")])
    assert code == 0, printed
    assert "note: sample data ends 2025-12-31, before today" in printed
    assert outcomes["MSFT"].signal["as_of"].startswith("2025-12-31 ")
    assert re.search(rf"^MSFT: {SIGNAL}$", printed, re.MULTILINE)


def test_trading_on_polygon_minute_aggregates(workdir):
    """With a Polygon key set, ``auto`` is Polygon: daily bars, then the session's minute
    aggregates (the fake sends 390; the 13:00 close keeps 210), from the fake server through
    the real client; the key appears nowhere."""
    from tests.fakes.fake_polygon import FakePolygon

    with FakePolygon() as server, pytest.MonkeyPatch.context() as mp:
        mp.setenv("POLYGON_API_KEY", server.api_key)
        mp.setenv("POLYGON_API_BASE", server.base)
        code, outcomes, printed = execute(
            ["trading", "--symbols", "SPY", "--end-date", "2023-11-24", "--config",
             "trees.toml", "--models-dir", str(workdir / "store_polygon"), "--report",
             str(workdir / "signals_polygon"), "--cache-dir", str(workdir / "cache")])
        assert any(r.path.startswith("/v2/aggs/ticker/SPY/range/1/minute/2023-11-24")
                   for r in server.paths("/v2/aggs"))
    assert code == 0, printed
    assert re.search(r"^  SPY +polygon: real daily bars", printed, re.MULTILINE)
    lines = printed.splitlines()
    changes = [line for line in lines if line.startswith("2023-11-24 ")]
    assert changes[0].startswith("2023-11-24 09:30 SPY: Direction: ")
    assert re.search(rf"^SPY: {SIGNAL}$", printed, re.MULTILINE)
    assert outcomes["SPY"].signal["as_of"] == "2023-11-24 12:59"
    assert outcomes["SPY"].model.trained_until == pd.Timestamp("2023-11-22")
    for path in [*(workdir / "signals_polygon").iterdir(),
                 *(workdir / "store_polygon").rglob("*.json")]:
        assert server.api_key not in path.read_text()
    assert server.api_key not in printed



def test_premarket_on_polygon_reuses_the_model_of_an_earlier_day(workdir):
    """Polygon's history is fetched from a start counted back from the end date, so a later
    day's bars start later than those an earlier day's model was stored with. The model
    trained on nothing after the later day must still be reused (its data hash covers the
    bars it trained on, which the later fetch still holds), not skipped as trained on
    'other bars ... the data changed since' and trained again every morning."""
    from tests.fakes.fake_polygon import FakePolygon

    store = workdir / "store_polygon_days"
    with FakePolygon() as server, pytest.MonkeyPatch.context() as mp:
        mp.setenv("POLYGON_API_KEY", server.api_key)
        mp.setenv("POLYGON_API_BASE", server.base)
        notes = []
        for end in ("2023-11-20", "2023-11-22"):
            code, outcomes, printed = execute(
                ["premarket", "--symbols", "SPY", "--end-date", end, "--config",
                 "trees.toml", "--models-dir", str(store), "--report",
                 str(workdir / "signals_polygon_days"), "--cache-dir",
                 str(workdir / "cache"), "-q"])
            assert code == 0, printed
            notes.append(outcomes["SPY"].model_note)
    assert notes[0].startswith("new model trained until 2023-11-20")
    assert notes[1].startswith("stored model ") and "trained until 2023-11-20" in notes[1]
    assert "data hash differs" not in notes[1]
    assert len(list(direction_dir("SPY", store).glob("20*"))) == 1

def test_trading_on_ib_minute_bars(trading_run, workdir, capsys):
    """``--source ib``: the fake TWS on 127.0.0.1 serves the 2025-11-28 session's 1-min bars
    (the sample market's, so the replay must print exactly the sample replay's changes and
    final line) through the real ib_async client; the daily history is --history-source
    sample (the stored model is reused). A symbol with no IB bars, an unreachable
    TWS/Gateway and --source ib outside trading mode are clear errors."""
    from tests.fakes.fake_tws import FakeTWS

    minutes = SampleMarket(seed=42).minute_bars("MSFT", "2025-11-28", "2025-11-28")
    served = [(f"{t:%Y%m%d %H:%M:%S} US/Eastern", *map(float, row))
              for t, row in zip(minutes.index, minutes[["open", "high", "low", "close",
                                                        "volume"]].to_numpy(), strict=True)]
    served.insert(0, ("20251126 15:59:00 US/Eastern", 1.0, 1.0, 1.0, 1.0, 1.0))  # not the day
    with FakeTWS() as tws:
        tws.add_stock("MSFT")
        tws.add_stock("AAPL")  # known to IB, but no bars
        tws.set_history("MSFT", served)
        code, outcomes, printed = execute(
            ["trading", "--source", "ib", "--history-source", "sample", "--ib-port",
             str(tws.port), "--client-id", "7", "--symbols", "MSFT,AAPL", "--end-date",
             "2025-11-28", "--config", "trees.toml", "--models-dir", str(workdir / "store"),
             "--report", str(workdir / "signals_ib"), "-q"])
        requests = [f for _, f in tws.received if f[0] == "20"]
        # not quiet: the notes before the results
        _, _, said = execute(
            ["trading", "--source", "ib", "--history-source", "sample", "--ib-port",
             str(tws.port), "--client-id", "8", "--symbols", "MSFT", "--end-date",
             "2025-11-28", "--config", "trees.toml", "--models-dir", str(workdir / "store"),
             "--report", str(workdir / "signals_ib_notes")])
    # a model of the simulated market scoring IB's real minutes was said nowhere
    assert ("note: the daily history and the model are the sample market's, a simulated "
            "market: IB's minute bars of the real one are scored on top of them (use "
            "--history-source polygon or csv for real daily history) (MSFT)") in said
    assert code == 1, printed
    # endDateTime (the 13:00 close), bar size, duration, RTH, TRADES, for each symbol
    assert [f[-8:-3] for f in requests] == [["20251128 18:00:00 UTC", "1 min", "1 D", "1",
                                             "TRADES"]] * 2
    lines = printed.splitlines()
    cut = lines.index("Results Summary:")
    sample_lines = trading_run[2].splitlines()
    assert lines[:cut] == [line for line in sample_lines if " MSFT: " in line]
    assert lines[:cut][0].startswith("2025-11-28 09:30 MSFT: Direction: ")
    direction, confidence = last_partial_bar_signal(outcomes["MSFT"].model)
    assert lines[cut:] == ["Results Summary:",
                           f"MSFT: Direction: {direction}, Confidence: {confidence:.2f}",
                           "AAPL: error: IB has no regular-session minute bars on 2025-11-28"]
    assert outcomes["MSFT"].signal["as_of"] == "2025-11-28 12:59"
    assert outcomes["MSFT"].signal["model"].startswith("stored model ")  # no training
    assert outcomes["MSFT"].source == "sample+ib"
    # TWS/Gateway not there: the whole run stops with exit code 2
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    assert run.main(["trading", "--source", "ib", "--ib-port", str(closed_port), "-s",
                     "MSFT", "-q"]) == 2
    assert f"cannot connect to TWS/Gateway at 127.0.0.1:{closed_port}" in capsys.readouterr().err
    # without -q the sources are said before the connect fails, as on every run
    assert run.main(["trading", "--source", "ib", "--ib-port", str(closed_port), "-s",
                     "MSFT"]) == 2
    told = capsys.readouterr()
    assert told.out.startswith("ML trading, trading mode\nSources:\n  MSFT ")
    assert "cannot connect to TWS/Gateway" in told.err
    assert run.main(["ml-trading", "--mode", "premarket", "--source", "ib", "-s", "MSFT",
                     "-q"]) == 2
    assert "--source ib serves the trading mode only" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:  # premarket does not offer it at all
        run.main(["premarket", "--source", "ib", "-s", "MSFT", "-q"])
    assert refused.value.code == 2
    assert "argument --source: invalid choice: 'ib'" in capsys.readouterr().err


# ---------------------------------------------------------------------------- command line
def test_shortcuts_and_defaults():
    parser = run.build_parser()
    args = parser.parse_args(["ml-trading"])
    assert args.mode == "backtest" and args.symbols == ["AAPL", "MSFT", "GOOGL", "AMZN", "TSLA"]
    assert args.start_date is None and args.end_date is None and args.source == "auto"
    for mode in ("premarket", "trading"):
        args = parser.parse_args([mode, "-s", "aapl,tsla"])
        assert args.mode == mode and args.handler is ml_trading.run_ml_trading
        assert args.symbols == ["AAPL", "TSLA"]
    assert parser.parse_args(["ml-trading", "-m", "trading"]).mode == "trading"


@pytest.mark.parametrize("argv, message", [
    (["--start-date", "2025-06-02", "--end-date", "2025-05-01"], "is not before"),
    (["--config", "bad.toml"], "unknown keys epoch"),
    (["--polygon-key", "abc"], "not accepted"),
    (["--symbols", "SP500", "--start-date", "2008-03-01", "--end-date", "2008-03-02"],
     "no NYSE session from --start-date 2008-03-01 to --end-date 2008-03-02"),
    (["-m", "trading", "--source", "ib", "--end-date", "2031-06-01"],
     "--end-date 2031-06-01 is outside the NYSE calendar this tool knows"),
    (["-m", "trading", "--source", "ib", "--end-date", "IN_60_DAYS"],
     "is in the future: IB has no minute bars of it"),
    # a source that cannot be opened refuses the whole run (not each symbol), before IB
    (["-m", "premarket", "--source", "polygon", "--symbols", "SPY,QQQ"],
     "error: --source polygon needs an API key"),
    (["-m", "trading", "--source", "ib", "--history-source", "csv", "--ib-port", "1"],
     "error: --source csv needs --csv PATH"),
])
def test_bad_requests_exit_2(workdir, argv, message, capsys):
    (workdir / "bad.toml").write_text("[direction]\nepoch = 3\n")
    later = pd.Timestamp.now() + pd.Timedelta(days=60)
    argv = [f"{later:%Y-%m-%d}" if a == "IN_60_DAYS" else a for a in argv]
    try:
        code = run.main(["ml-trading", *argv])
    except SystemExit as exc:  # key flags are refused before parsing
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "abc" not in err


def test_wrapper_script_help():
    result = subprocess.run(["bash", str(ROOT / "run_ml_trading.sh"), "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for text in ("-s SYMBOLS, --symbols SYMBOLS", "-m {premarket,trading,backtest}",
                 "--start-date", "--end-date", "--source", "Partial-bar rule",
                 "AAPL,MSFT,GOOGL,AMZN,TSLA",
                 "Exit code"):
        assert text in result.stdout


def test_the_wrapper_trusts_the_install_stamp_not_bin_python(tmp_path):
    """A first run killed during the install leaves .venv/bin/python but no stamp: the next
    run must finish the install (make, which reads the stamp), then run the command."""
    import os
    import shutil

    home = tmp_path / "clone"
    home.mkdir()
    for name in ("run_ml_trading.sh", "Makefile", "setup.cfg", "pyproject.toml"):
        shutil.copy(ROOT / name, home / name)
    (home / ".venv" / "bin").mkdir(parents=True)
    python = home / ".venv" / "bin" / "python"
    python.write_text("#!/bin/sh\necho \"python $*\"\n")
    python.chmod(0o755)
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "make").write_text("#!/bin/sh\necho \"make $*\"\n")
    (tools / "make").chmod(0o755)
    env = {**os.environ, "PATH": f"{tools}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", str(home / "run_ml_trading.sh"), "-m", "premarket"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "setting up" in done.stderr  # no stamp: the install is (re)done
    assert done.stdout.splitlines() == [f"make -s -C {home} install",
                                        f"python {home}/run.py ml-trading -m premarket"]
    # the Makefile: no stamp, the install runs; a stamp newer than its inputs, nothing
    real_make = shutil.which("make", path=os.environ["PATH"])
    if real_make is None:
        return
    plan = subprocess.run([real_make, "-n", "-C", str(home), "install"], capture_output=True,
                          text=True, timeout=60).stdout
    assert "-m venv .venv" in plan and "pip install" in plan
    (home / ".venv" / ".installed").touch()
    plan = subprocess.run([real_make, "-n", "-C", str(home), "install"], capture_output=True,
                          text=True, timeout=60).stdout
    assert "pip install" not in plan


def test_backtest_over_several_seeds_prints_mean_and_spread(workdir):
    """``--seeds 2`` trains a second model with the next seed: each cell of the walk-forward
    lines is the mean +- std of the two tables, the first seed's model trades, and every
    table is written; ``--seeds 0`` is refused before any work."""
    code, outcomes, printed = execute([
        "ml-trading", "--symbols", "SP500", "--start-date", "2008-03-03", "--end-date",
        "2008-05-30", "--config", "trees.toml", "--seeds", "2", "-q",
        "--report", str(workdir / "seeds")])
    assert code == 0
    outcome = outcomes["SP500"]
    first, second = outcome.seed_evaluations
    assert first is outcome.model.evaluation_ and not first.equals(second)
    blocks = printed.split("Results Summary:")[1].split("\n\n")
    lines = next(b for b in blocks if b.startswith("direction model")).splitlines()
    assert lines[0].startswith("direction model (walk-forward), mean +- std over 2 seeds")
    meta = lines[1].split()
    log_losses = [first.loc["meta", "log_loss"], second.loc["meta", "log_loss"]]
    assert meta[:2] == ["SP500", "meta"]
    assert meta[6:9] == [f"{np.mean(log_losses):.3f}", "+-", f"{np.std(log_losses, ddof=1):.3f}"]
    assert "(first seed)" in lines[-1]
    seeds = pd.read_csv(workdir / "seeds" / "SP500" / "direction_evaluation_seeds.csv")
    assert sorted(set(seeds["seed"])) == [0, 1]
    with pytest.raises(DataError, match="seeds must be at least 1"):
        execute(["ml-trading", "--symbols", "SP500", "--seeds", "0", "--config", "trees.toml"])


class _Stop(Exception):
    """Ends a run right after the checks made before any work."""


@pytest.mark.parametrize("flags, started", [([], True), (["--no-report"], False)])
def test_the_backtest_mode_starts_the_report_fork_server_before_training(monkeypatch, flags,
                                                                        started):
    """The direction models load keras: the report's workers come from the fork server
    (``analyzers.render_pool``), started before any model is trained."""
    import analyzers.render_pool as render_pool
    import engine.ml_trading.run as ml_run

    asked = []
    monkeypatch.setattr(render_pool, "start_render_server", lambda *m: asked.append(m))

    def stop(settings):
        raise _Stop

    monkeypatch.setattr(ml_run, "execute", stop)
    with pytest.raises(_Stop):
        run.main(["ml-trading", "--mode", "backtest", "--symbols", "SPY", *flags])
    assert asked == ([("engine.backtest",)] if started else [])


def test_a_csv_run_without_symbols_takes_every_file(tmp_path):
    """As backtest and sweep: --source csv and no --symbols is the files' symbols, not
    seed 003's AAPL..TSLA, which the files do not have."""
    from cli.ml_trading import settings_from_args

    for name in ("AAA", "BBB"):
        (tmp_path / f"{name}.csv").write_text("date,open,high,low,close,volume\n"
                                              "2024-01-02,1,2,0.5,1.5,10\n")
    args = run.build_parser().parse_args(["premarket", "--source", "csv", "--csv",
                                          str(tmp_path)])
    assert settings_from_args(args).symbols == ("AAA", "BBB")
    given = run.build_parser().parse_args(["premarket", "--source", "csv", "--csv",
                                           str(tmp_path), "--symbols", "BBB"])
    assert settings_from_args(given).symbols == ("BBB",)
