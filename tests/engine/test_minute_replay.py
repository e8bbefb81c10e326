"""The partial daily bar the minute replay builds (``engine.ml_trading.minute_replay``)."""

from __future__ import annotations

import pandas as pd

from engine.ml_trading import minute_replay


def test_partial_bar_rule():
    minutes = pd.DataFrame({"open": [10.0, 10.5, 10.2], "high": [10.6, 10.7, 10.4],
                            "low": [9.9, 10.3, 9.8], "close": [10.5, 10.2, 10.3],
                            "volume": [100.0, 50.0, 70.0]},
                           index=pd.date_range("2025-03-03 09:30", periods=3, freq="min"))
    previous = pd.Series({"open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume": 9.0,
                          "put_call_ratio": 0.7, "cpi_release": 0.0})
    today = previous.copy()
    today[["put_call_ratio", "cpi_release"]] = [0.9, 1.0]
    partial = minute_replay.partial_bars(minutes, previous, today)
    assert partial["open"].tolist() == [10.0] * 3
    assert partial["high"].tolist() == [10.6, 10.7, 10.7]
    assert partial["low"].tolist() == [9.9, 9.9, 9.8]
    assert partial["close"].tolist() == [10.5, 10.2, 10.3]
    assert partial["volume"].tolist() == [100.0, 150.0, 220.0]
    assert partial["put_call_ratio"].tolist() == [0.7] * 3  # known only after the close
    assert partial["cpi_release"].tolist() == [1.0] * 3  # scheduled: known in advance


def test_each_minutes_signal_is_the_batch_models_on_the_same_partial_bar(
        sample_market, tiny_direction_model):
    """``score_partial`` (the stream fed the sessions before once, then each partial bar
    peeked on top) gives what ``predict_frame`` gives on those sessions plus that partial
    bar: the same direction, probabilities within 1e-5, minute after minute."""
    import numpy as np

    from engine.ml_trading.outcome import Outcome

    model = tiny_direction_model
    session = pd.Timestamp("2022-03-01")
    bars = sample_market.bars("SPY", "2021-06-01", session)
    history = bars[bars.index < session]
    minutes = sample_market.minute_bars("SPY", session, session).iloc[:40]
    tail = history.iloc[-model.warmup_bars:]
    partial = minute_replay.partial_bars(minutes, history.iloc[-1], bars.loc[session])
    outcome = Outcome("SPY", source="sample", model=model,
                      replay=(session, tail, partial))
    seen = set()
    for i in range(0, len(partial), 3):
        signal = minute_replay.score_partial(outcome, i)
        frame = pd.concat([tail, partial.iloc[[i]].set_axis([session])])
        expected = model.predict_frame(frame).iloc[-1]
        assert signal["direction_value"] == int(expected["direction"])
        np.testing.assert_allclose([signal[c] for c in ("confidence", "p_sell", "p_neutral",
                                                        "p_buy")],
                                   expected[["confidence", "p_sell", "p_neutral",
                                             "p_buy"]].to_numpy(dtype=float),
                                   rtol=0, atol=1e-5)
        seen.add(round(signal["p_buy"], 6))
    assert len(seen) > 1  # the partial bar moves the score: the minutes are not ignored
