"""``--signals ml`` and ``--signals direction`` on IB bars (the fake TWS): the stored model is
warmed up on the backfill and scored bar by bar through its streaming path, and the values
streamed on IB bars equal the batch path's values on the very same bars; a model that is
missing, saw the live period or reads columns IB bars lack is refused before connecting;
the status line says how long each bar's decision took.

The models are tiny and trained here on the sample market's open/high/low/close/volume
only (what IB bars carry), on sessions up to 2021-12-31; the paper runs trade 2022.
"""

from __future__ import annotations

import datetime as dt
import threading

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

import run as cli
from core.errors import DataError
from engine.paper_models import IB_COLUMNS, check_paper_model, paper_models
from models.direction_store import save_direction_model
from models.store import save_model
from tests.fakes.fake_tws import FakeTWS
from tests.fakes.ib_harness import (
    NEW_YORK,
    PaperRun,
    frame_bars,
    ib_history,
    ib_log_fixture,  # noqa: F401 (the ib_log fixture)
    ny_epoch,
)
from training.label_cache import LABEL_VERSION

OHLCV = list(IB_COLUMNS)
TRAINED_UNTIL = pd.Timestamp("2021-12-31")


@pytest.fixture(scope="module")
def ib_ml_model(tiny_training):
    """Seed 000's HMM + LSTM, tiny, on OHLCV bars up to 2021-12-31."""
    spec, data = tiny_training
    return spec.make_model().fit(data.bars[OHLCV], data.labels,
                                 hmm_bars=data.hmm_bars[OHLCV])


@pytest.fixture(scope="module")
def ib_direction_model(direction_training_bars, fast_direction_config):
    """Seed 003's system (trees and a GRU), tiny, on OHLCV bars up to 2021-12-31."""
    from models.direction_model import DirectionModel

    return DirectionModel(fast_direction_config).fit(direction_training_bars[OHLCV])


class LineRecorder(bt.Analyzer):
    """Every bar the strategy saw (backfill and live): its date, OHLCV and signal lines."""

    def start(self):
        self.rows = []
        self.streamed = False

    def next(self):
        data = self.strategy.datas[0]
        signal = self.strategy.signals[data]
        self.streamed = self.streamed or signal._stream is not None
        bar = {c: getattr(data.lines, c)[0] for c in OHLCV}
        lines = {name: getattr(signal.lines, name)[0]
                 for name in signal.lines.getlinealiases()}
        # the session (New York) date of the bar's instant, whatever zone shows it
        when = bt.num2date(data.datetime[0]).replace(tzinfo=dt.UTC).astimezone(NEW_YORK)
        self.rows.append((pd.Timestamp(when.date()), bar, lines))


def run_paper_on(model, signals: str, frame: pd.DataFrame, n_live: int,
                 tz: str = "America/New_York"):
    """A paper run of the equity strategy on ``frame``'s bars (all but the last ``n_live``
    as backfill), shown in ``tz``: what the strategy saw, and the run."""
    bars = frame_bars(frame)
    history, live = bars[:-n_live], bars[-n_live:]
    with FakeTWS() as tws:
        tws.add_stock("SPY", 756733, price=history[-1][4])
        tws.set_history("SPY", ib_history(history))
        run = PaperRun(tws, history, live, settings={
            "signals": signals, "signal_models": {"SPY": model}, "bar_size": "1 day",
            "tz": tz})
        run.cerebro.addanalyzer(LineRecorder, _name="recorded")
        with run:
            run.finish(timeout=60)
    return run.result[0].analyzers.recorded, run


@pytest.mark.parametrize("tz", ["America/New_York", "Asia/Tokyo"])
@pytest.mark.parametrize("signals", ["ml", "direction"])
def test_streamed_values_on_ib_bars_equal_the_batch_path(signals, sample_market, ib_ml_model,
                                                         ib_direction_model, ib_log, tz):
    """Shown in Tokyo too, where a session's close is the next morning: the model is fed
    each bar's session date, as the batch path on the same sessions."""
    model = ib_ml_model if signals == "ml" else ib_direction_model
    frame = sample_market.bars("SPY", "2022-01-03", None).iloc[:model.warmup_bars + 25]
    n_live = 12
    recorded, run = run_paper_on(model, signals, frame[OHLCV], n_live, tz)
    assert recorded.streamed  # live data: the indicator ran bar by bar, not in batch
    dates = [r[0] for r in recorded.rows]
    assert dates == list(frame.index)  # every backfill and live bar, once, in order
    seen = pd.DataFrame([r[1] for r in recorded.rows], index=pd.DatetimeIndex(dates))
    # the bars the strategy saw are the sample market's, through the TWS wire format
    np.testing.assert_allclose(seen.to_numpy(), frame[OHLCV].to_numpy(), rtol=1e-9)
    batch = model.predict_frame(seen)
    streamed = pd.DataFrame([r[2] for r in recorded.rows], index=seen.index)
    signal = run.result[0].signals[run.datas[0]]
    fed = list(signal._stream.bars.dates)  # the sessions the stream's window was fed
    assert fed == list(frame.index[-len(fed):])
    expected = signal.line_values(batch.to_numpy(dtype=float))
    got = streamed[list(signal.lines.getlinealiases())].to_numpy()
    scored = np.isfinite(expected).all(axis=1)
    assert scored[-n_live:].all()  # warmed up on the backfill: every live bar is scored
    assert not scored[:model.warmup_bars].any()
    # the stream runs the model's live path (numpy forward passes, the forest's node
    # arrays): the batch's lines within 1e-5 (class and direction lines: equal)
    np.testing.assert_allclose(got[scored], expected[scored], rtol=0, atol=1e-5)
    assert np.isnan(got[~scored]).all()  # warm-up bars feed the stream, their lines stay NaN
    # one status line per live bar, each with its decision latency
    status = [e for e in run.events if " | value " in e]
    assert len(status) == n_live
    assert all(" | decided in " in line and line.endswith(" ms") for line in status)


def test_a_model_that_saw_the_live_period_is_refused(ib_ml_model):
    check_paper_model(ib_ml_model, "SPY", "store", dt.date(2022, 1, 3))  # after: fine
    with pytest.raises(DataError, match=r"trained on data up to 2021-12-31, which reaches "
                                        r"the live period starting 2021-12-31"):
        check_paper_model(ib_ml_model, "SPY", "store", dt.date(2021, 12, 31))


def test_a_model_reading_columns_ib_lacks_is_refused(tiny_model, tiny_direction_model):
    for model in (tiny_model, tiny_direction_model):  # trained with IV / flow columns
        with pytest.raises(DataError, match=r"reads .*(atm_iv|put_call_ratio).*, which IB "
                                            r"bars do not carry") as refused:
            check_paper_model(model, "SPY", "store", dt.date(2030, 1, 2))
        # a Direction model is told the config that leaves those groups out
        hint = 'feature_groups = ["price", "volume", "filters"]'
        assert (hint in str(refused.value)) == (model is tiny_direction_model)


@pytest.fixture(scope="module")
def model_store(tmp_path_factory, ib_ml_model, ib_direction_model):
    """Both models as ``train --save`` and premarket store them: trained on the sample
    market of seed 42 (``metadata.json`` says so)."""
    root = tmp_path_factory.mktemp("store")
    trained_on = {"source": "sample", "seed": 42}
    save_model(ib_ml_model, "lstm_poc", "SPY", root,
               metadata={**trained_on, "label_version": LABEL_VERSION})
    save_direction_model(ib_direction_model, "SPY", root, metadata=trained_on)
    return root


@pytest.mark.parametrize("signals", ["ml", "direction"])
def test_paper_models_load_latest_from_the_store(signals, model_store):
    models = paper_models(signals, "latest", ["SPY"], model_store, "lstm_poc",
                          dt.date(2022, 1, 3))
    assert pd.Timestamp(models["SPY"].trained_until) == TRAINED_UNTIL
    with pytest.raises(DataError, match="reaches the live period"):
        paper_models(signals, "latest", ["SPY"], model_store, "lstm_poc", dt.date(2021, 6, 1))


@pytest.mark.parametrize("signals", ["ml", "direction"])
@pytest.mark.parametrize(("trained_on", "said", "warned"), [
    ({"source": "sample", "seed": 7}, "sample data of seed 7", True),
    ({"source": "sample-noedge", "seed": 42}, "sample-noedge data of seed 42", True),
    ({"source": "polygon", "seed": 42}, "polygon data", False),  # seed: the sample flow's
    ({"source": "csv"}, "csv data", False),
    ({}, "a source its store does not record", False),
])
def test_a_paper_run_says_the_source_its_model_was_trained_on(signals, trained_on, said,
                                                               warned, ib_ml_model,
                                                               ib_direction_model, tmp_path):
    """A stored model trading IB's bars: its training source is said (the backtest warns of a
    model of another source; a paper run said nothing), and a model of a simulated market
    (the sample market, of whatever seed) is warned of with the backtest's words: its
    patterns are not the real market's. A model of real bars (a CSV file, Polygon) is what
    a paper run is for: said, not warned of."""
    from engine.paper_models import training_source

    if signals == "ml":  # as train --save writes it: with the labels' version
        save_model(ib_ml_model, "lstm_poc", "SPY", tmp_path,
                   metadata={**trained_on, "label_version": LABEL_VERSION}
                   if trained_on else {})
    else:
        save_direction_model(ib_direction_model, "SPY", tmp_path, metadata=trained_on)
    notes = {}
    models = paper_models(signals, "latest", ["SPY"], tmp_path, "lstm_poc",
                          dt.date(2022, 1, 3), notes)
    assert training_source(models["SPY"].metadata_) == said
    label = "lstm_poc" if signals == "ml" else "direction"
    folder = tmp_path / label / "SPY" / "latest"
    if warned:
        assert notes == {"SPY": [f"the model in {folder} was trained on "
                                 f"{trained_on['source']} data; this run reads IB"]}
    else:
        assert notes == {}


@pytest.mark.parametrize(("argv", "message"), [
    (["--signals", "ml"], "error: --signals ml needs --model latest|TIMESTAMP|PATH"),
    (["--signals", "ml", "--model", "latest", "--symbols", "QQQ"],
     "error: QQQ: no seed-000 StrategyModel (HMM regimes and its head) at "),
    (["--signals", "direction", "--model", "latest", "--symbols", "QQQ"],
     "error: QQQ: no multi-model DirectionModel at "),
    # a daily backfill shorter than the model's warm-up: no signal for weeks
    (["--signals", "direction", "--model", "latest", "--backfill", "5 D"],
     "error: --backfill '5 D' gives about 4 daily bars, fewer than the "),
    (["--signals", "direction", "--model", "latest", "--journal", "/proc/journal.sqlite"],
     "error: --journal /proc/journal.sqlite: /proc is not writable"),
])
def test_paper_cli_refuses_a_missing_model_before_connecting(argv, message, model_store,
                                                             capsys, monkeypatch):
    from brokers.ib_store import IBStore

    def no_connection(self):
        raise AssertionError("connected without a model")

    monkeypatch.setattr(IBStore, "start", no_connection)
    code = cli.main(["paper", "--models-dir", str(model_store), *argv])
    assert code == 2
    assert capsys.readouterr().err.startswith(message)


@pytest.mark.parametrize(("signals", "label"), [("ml", "lstm_poc"), ("direction", "direction")])
def test_a_mistyped_model_name_is_looked_for_in_the_store(signals, label, model_store):
    """`--model` with a store folder name that is not there (a timestamp without its random
    suffix): the error names the store folder looked in and the folders it holds."""
    with pytest.raises(DataError) as refused:
        paper_models(signals, "2021-12-31", ["SPY"], model_store, "lstm_poc",
                     dt.date(2022, 1, 3))
    folder = model_store / label / "SPY"
    stored = next(p.name for p in folder.iterdir() if p.name[:1].isdigit())
    assert f" at {folder / '2021-12-31'} " in str(refused.value)
    assert f"{folder} holds {stored}" in str(refused.value)


@pytest.mark.parametrize("signals", ["ml", "direction"])
def test_paper_cli_trades_a_stored_model(signals, model_store, sample_market, tmp_path, capsys,
                                         ib_log):
    """``run.py paper --signals ml|direction --model latest``: the sample market's bars of
    2022 as the daily backfill up to yesterday (dated back so today is the first live
    session), then today's session; the model is loaded, warmed up and scores the day's
    bar at the close."""
    frame = sample_market.bars("SPY", "2022-01-03", None).iloc[:130][OHLCV]
    today = dt.datetime.now(NEW_YORK).date()
    days = [today - dt.timedelta(days=len(frame) - k) for k in range(len(frame))]
    history = [(d, *row) for d, row in zip(days, frame.itertuples(index=False), strict=True)]
    ten = dt.datetime.combine(today, dt.time(10))
    close = dt.datetime.combine(today, dt.time(15, 59, 55))  # a regular session's last 5 s
    with FakeTWS() as tws:
        tws.add_stock("SPY", 756733, price=history[-1][4])
        tws.set_history("SPY", ib_history(history))
        argv = ["paper", "--signals", signals, "--model", "latest", "--models-dir",
                str(model_store), "--symbols", "SPY", "--backfill", "1 Y", "--max-bars", "1",
                "--ib-port", str(tws.port), "--client-id", "23",
                "--journal", str(tmp_path / "journal.sqlite"), "--connect-timeout", "3"]
        result = {}
        thread = threading.Thread(target=lambda: result.setdefault("code", cli.main(argv)))
        thread.start()
        tws.wait_until(lambda: tws.subscribers("SPY") == 1, what="real-time bars requested")
        _, o, h, lo, c, v = history[-1]
        for at in (ten, close):  # the 5-second bar ending the session delivers the day's
            tws.push_bar("SPY", ny_epoch(at), o, h, lo, c, v)
        thread.join(60)
        assert not thread.is_alive()
    out, err = capsys.readouterr()
    assert result["code"] == 0, err
    assert (f"signals {signals} for SPY: model trained until 2021-12-31 on sample data of "
            "seed 42, warm-up ") in out
    # the backtest's warning: a simulated market's model trading a real market's bars
    folder = model_store / ("lstm_poc" if signals == "ml" else "direction") / "SPY" / "latest"
    assert (f"warning: SPY: the model in {folder} was trained on sample data; this run reads "
            "IB") in out
    status = [line for line in out.splitlines() if " | value " in line]
    assert len(status) == 1 and status[0].startswith(f"{today:%Y-%m-%d} 16:00:00 SPY ")
    assert " | decided in " in status[0]


def test_credit_spreads_need_a_signal_line(capsys):
    argv = ["paper", "--strategy", "credit-spread", "--signals", "direction", "--model",
            "latest", "--ib-port", "1", "--connect-timeout", "0.1"]
    assert cli.main(argv) == 2
    assert capsys.readouterr().err.startswith(
        "error: --strategy credit-spread trades the signal line")


@pytest.mark.parametrize("bar_size", ["5 secs", "1 hour"])
def test_model_signals_need_daily_bars(bar_size, model_store, capsys):
    argv = ["paper", "--signals", "ml", "--model", "latest", "--models-dir", str(model_store),
            "--bar-size", bar_size, "--ib-port", "1", "--connect-timeout", "0.1"]
    assert cli.main(argv) == 2
    assert capsys.readouterr().err.startswith(
        f"error: --signals ml scores daily sessions: use --bar-size '1 day' (got '{bar_size}')")


@pytest.mark.parametrize(("learned", "older"), [
    ("2", "labels of version 2"), (None, f"labels older than version {LABEL_VERSION}")])
def test_a_paper_run_warns_of_a_strategy_model_of_older_labels(learned, older, ib_ml_model,
                                                               tmp_path):
    """A stored strategy model whose expected returns learned from an older label
    definition (a version before today's, or none recorded: saved before it was) is warned
    of with what changed and how to retrain, as the backtest warns."""
    metadata = {"source": "csv", **({"label_version": learned} if learned else {})}
    save_model(ib_ml_model, "lstm_poc", "SPY", tmp_path, metadata=metadata)
    notes = {}
    paper_models("ml", "latest", ["SPY"], tmp_path, "lstm_poc", dt.date(2022, 1, 3), notes)
    folder = tmp_path / "lstm_poc" / "SPY" / "latest"
    assert notes == {"SPY": [
        f"the model in {folder} learned its expected returns from {older} (closes capped at "
        "the width): retrain it on today's labels (`python run.py train --symbol SPY --save`)"]}
