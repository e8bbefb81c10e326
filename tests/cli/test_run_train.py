"""`run.py train` and `run.py backtest --signals ml` end to end with a tiny model."""

import json

import numpy as np
import pandas as pd
import pytest

import run
from models.evaluation import chosen_pnl
from training.label_cache import LABEL_VERSION


def test_train_saves_evaluates_and_backtests_with_the_stored_model(tmp_path, tiny_config,
                                                                    capsys):
    store, report = tmp_path / "store", tmp_path / "train"
    code = run.main(["train", "--symbol", "SPY", "--source", "sample", "--end-date",
                     "2021-12-31", "--lstm-start", "2021-03-01", "--hmm-start", "2016-01-01",
                     "--config", str(tiny_config), "--save", "--mode", "test",  # seed 000's
                     "--models-dir", str(store), "--report", str(report), "-q"])
    assert code == 0
    latest = store / "test" / "SPY" / "latest"
    meta = json.loads((latest / "metadata.json").read_text())
    assert meta["training_window"]["end"] == "2021-12-31"
    assert meta["lstm_config"]["sequence_length"] == 10
    assert (meta["source"], meta["seed"]) == ("sample", 42)  # a simulated market is its seed
    assert meta["label_version"] == LABEL_VERSION  # what its expected returns learned from
    summary = json.loads((report / "training_summary.json").read_text())
    assert set(summary["walk_forward"]) == {"lstm", "lstm_argmax", "lstm_raw", "majority",
                                            "logistic", "regime_logistic", "rule", "oracle",
                                            "foresight"}
    scores = summary["walk_forward"]
    assert scores["foresight"]["accuracy"] == 1.0 and scores["foresight"]["brier"] < 1e-6
    for name in scores:  # perfect foresight earns every bar's best: nothing beats it
        assert scores[name]["mean_pnl"] <= scores["foresight"]["mean_pnl"] + 1e-12
    assert summary["seeds"] == [42] and summary["out_of_sample_bars"] > 20
    for name in ("confusion_matrix.png", "signal_distribution.png", "training_history.png",
                 "feature_importance.png", "market_states.png", "walk_forward.csv",
                 "returns_vs_market.png", "returns_vs_market.csv", "reliability.png",
                 "scores.csv", "scores.txt"):
        assert (report / name).stat().st_size > 0
    check_returns_vs_market(report, summary)
    capsys.readouterr()

    args = ["backtest", "--symbols", "SPY", "--source", "sample", "--signals", "ml",
            "--model", "latest", "--models-dir", str(store), "--store-label", "test",
            "--strategy", "credit-spread", "--end-date", "2022-06-30", "-q"]
    assert run.main(args + ["--start-date", "2022-01-03", "--no-report"]) == 0
    assert "SPY: Return:" in capsys.readouterr().out
    assert run.main(args + ["--start-date", "2021-11-01", "--no-report"]) == 2
    assert "overlaps the backtest" in capsys.readouterr().err
    # a model saved before the labels' last change (no label_version, or an older one)
    for saved in store.glob("test/SPY/*/metadata.json"):
        meta = json.loads(saved.read_text())
        meta.pop("label_version", None)
        saved.write_text(json.dumps(meta))
    assert run.main(args + ["--start-date", "2022-01-03", "--no-report"]) == 0
    err = capsys.readouterr().err
    assert (f"learned its expected returns from labels older than version {LABEL_VERSION} "
            "(closes capped at the width)") in err
    assert "python run.py train --symbol SPY --save" in err


def test_the_default_head_is_the_regime_regression_end_to_end(tmp_path, capsys):
    """Without --head the model is the regime head: its row in the table, no epochs, no
    network file in the store, and a backtest scores with the stored model."""
    config, store, report = tmp_path / "hmm.toml", tmp_path / "store", tmp_path / "train"
    config.write_text("[hmm]\nn_init = 1\nn_iter = 20\n")
    assert run.main(["train", "--symbol", "SPY", "--source", "sample", "--end-date",
                     "2021-12-31", "--lstm-start", "2021-03-01", "--hmm-start", "2016-01-01",
                     "--config", str(config), "--save", "--store-label", "test",
                     "--models-dir", str(store), "--report", str(report), "-q"]) == 0
    summary = json.loads((report / "training_summary.json").read_text())
    # the model's row calls the best expected return; regime_argmax the most probable class
    assert set(summary["walk_forward"]) == {"regime", "regime_argmax", "majority", "logistic",
                                            "rule", "oracle", "foresight"}
    assert summary["final"]["head"] == "regime" and "regime" in summary["returns_vs_market"]
    # one seed: no spread to measure, so no std (null), not a 0 that reads "no variance"
    assert all(v is None for row in summary["walk_forward_std"].values() for v in row.values())
    text = (report / "scores.txt").read_text()
    assert "regime " in text and "paired standard error" in text
    out = capsys.readouterr().out  # the table is the run's result: stdout, even with -q
    assert out.startswith(text) and out.endswith(
        f"Training report written to {report}/ (open {report}/index.html)\n")
    page = (report / "index.html").read_text()  # one page: the table, the pictures, links
    assert "walk-forward scores" in page and "<img src='feature_importance.png'" in page
    assert "<img src='training_history.png'" not in page  # the regime head has no epochs
    assert "<a href='scores.csv'>scores.csv</a>" in page
    # its first column named (it read ',importance': pandas took 'Unnamed: 0')
    importance = pd.read_csv(report / "feature_importance.csv")
    assert list(importance.columns) == ["feature", "importance"] and len(importance)
    difference = summary["log_loss_vs_majority"]
    assert difference["difference"] == pytest.approx(
        summary["walk_forward"]["regime"]["log_loss"]
        - summary["walk_forward"]["majority"]["log_loss"], abs=1e-6)
    assert difference["standard_error"] > 0
    # and the P&L of the model's calls against always calling the majority class, paired
    predictions = pd.read_csv(report / "predictions.csv", index_col=0)
    earned = summary["pnl_vs_majority"]
    assert earned["difference"] == pytest.approx(
        (chosen_pnl(predictions["regime"], predictions["put_return"],
                    predictions["call_return"])
         - chosen_pnl(predictions["majority"], predictions["put_return"],
                      predictions["call_return"])).mean(), abs=1e-9)
    assert earned["standard_error"] > 0
    assert not (report / "training_history.png").exists()
    latest = store / "test" / "SPY" / "latest"
    assert json.loads((latest / "metadata.json").read_text())["head"] == "regime"
    assert not (latest / "model.keras").exists()
    capsys.readouterr()
    assert run.main(["backtest", "--symbols", "SPY", "--source", "sample", "--signals", "ml",
                     "--model", "latest", "--models-dir", str(store), "--store-label", "test",
                     "--start-date", "2022-01-03", "--end-date", "2022-06-30", "--no-report",
                     "-q"]) == 0
    assert "SPY: Return:" in capsys.readouterr().out


def test_backtest_trains_in_the_run_on_the_past_only(tmp_path, tiny_config, capsys):
    lines = tmp_path / "lines.csv"
    code = run.main(["backtest", "--symbols", "SPY", "--source", "sample", "--signals", "ml",
                     "--config", str(tiny_config), "--start-date", "2024-01-02",
                     "--end-date", "2024-03-29", "--no-report", "--export-lines", str(lines),
                     "-q"])
    assert code == 0
    assert "SPY: Return:" in capsys.readouterr().out
    header = lines.read_text().splitlines()[0]
    for name in ("StrategySignal.signal", "StrategySignal.p_put", "StrategySignal.regime",
                 "StrategySignal.p_high_volatility_downtrend"):
        assert name in header


def test_train_reports_mean_and_std_over_seeds(tmp_path, tiny_config):
    report = tmp_path / "train"
    code = run.main(["train", "--symbol", "SPY", "--source", "sample", "--end-date",
                     "2021-09-30", "--lstm-start", "2021-03-01", "--hmm-start", "2018-01-01",
                     "--config", str(tiny_config), "--seeds", "2", "--report", str(report),
                     "-q"])
    assert code == 0
    summary = json.loads((report / "training_summary.json").read_text())
    assert summary["seeds"] == [42, 43]
    n = summary["out_of_sample_bars"]
    mean, std = summary["walk_forward"], summary["walk_forward_std"]
    assert std["majority"]["accuracy"] == 0.0  # seed-free baselines do not move
    assert std["lstm"]["log_loss"] >= 0.0 and mean["lstm"]["n"] == n
    walk = pd.read_csv(report / "walk_forward.csv")
    assert set(walk["seed"]) == {42, 43}
    per_seed = walk[walk["model"] == "lstm"].groupby("seed")["accuracy"]
    assert len(per_seed.mean()) == 2
    text = (report / "scores.txt").read_text()
    assert f"{n} labelled bars" in text and "2 seeds" in text and " +- " in text
    assert "standard error" in text
    scores = pd.read_csv(report / "scores.csv", index_col=0)
    assert scores.loc["foresight", "accuracy"] == 1.0


def test_config_file_errors_are_clear(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[lstm]\nepoch = 3\n")
    assert run.main(["train", "--source", "sample", "--config", str(bad), "-q"]) == 2
    assert "unknown keys epoch" in capsys.readouterr().err



def check_returns_vs_market(report, summary):
    """returns_vs_market.csv trades only the walk-forward's out-of-sample predictions, each
    from a scored bar's close to the next session's, against the market's same return."""
    from feeds.sample_market import SampleMarket

    predictions = pd.read_csv(report / "predictions.csv", index_col=0, parse_dates=True)
    returns = pd.read_csv(report / "returns_vs_market.csv", index_col=0, parse_dates=True)
    walk = pd.read_csv(report / "walk_forward.csv")
    first_test = pd.Timestamp(walk["test"].iloc[0].split("..")[0])
    decided = pd.DatetimeIndex(returns["decision_date"])
    assert len(decided) > 20 and decided.isin(predictions.index).all()
    assert decided[0] == first_test  # nothing before the first test fold is traded
    close = SampleMarket(seed=42).bars("SPY", None, "2021-12-31")["close"]
    market = (close.shift(-1) / close - 1.0).reindex(decided).to_numpy()
    position = predictions["lstm"].reindex(decided).map({0: 0.0, 1: -1.0, 2: 1.0})
    np.testing.assert_allclose(returns["market"], market)
    np.testing.assert_allclose(returns["lstm"], position.to_numpy() * market)
    assert (returns.index > decided).all()  # earned in the session after the decision
    assert summary["returns_vs_market"]["lstm"] == pytest.approx(
        np.prod(1.0 + returns["lstm"]) - 1.0)


def test_train_walk_forward_options_make_refit_and_rolling_folds():
    from cli.train import evaluation_folds

    index = pd.bdate_range("2020-01-01", periods=400)
    args = run.build_parser().parse_args(["train", "--refit-every", "25", "--window",
                                          "rolling", "--train-years", "0.4"])
    folds = evaluation_folds(args, index, index[300], embargo=5)
    assert [index.get_loc(f.test_start) for f in folds] == [300, 325, 350, 375]
    for fold in folds:
        assert index.get_loc(fold.test_start) - index.get_loc(fold.train_end) == 6
        assert index.get_loc(fold.train_end) - index.get_loc(fold.train_start) == 100
    args = run.build_parser().parse_args(["train", "--folds", "3"])
    folds = evaluation_folds(args, index, index[300], embargo=5)
    assert len(folds) == 3 and all(f.train_start == index[0] for f in folds)


TRAIN_2021 = ["train", "--symbol", "SPY", "--source", "sample", "--end-date", "2021-12-31",
              "--lstm-start", "2021-03-01", "--hmm-start", "2016-01-01", "-q"]


@pytest.mark.parametrize("flags, message", [
    (["--folds", "100"], "--folds 100: the last third of the history has 99 labelled "
                         "sessions, and 100 test blocks would leave some with fewer than 5; "
                         "use at most 5"),
    (["--folds", "500"], "use at most 5"),
    (["--refit-every", "3"], "--refit-every 3: blocks of 3 sessions leave some (the first "
                             "from "),
    # --folds is ignored by a refit run: given with it (even at its default), refused
    (["--refit-every", "60", "--folds", "2"], "--folds and --refit-every both set the "
                                              "walk-forward blocks"),
])
def test_folds_the_labels_cannot_fill_are_refused_before_any_model_trains(
        flags, message, tmp_path, monkeypatch, capsys):
    """A fold's scores and the feature importance need labelled sessions in its test block;
    too many folds used to fail with a traceback after minutes of training, or shrink to
    fewer folds without a word."""
    def no_training(*args, **kwargs):
        raise AssertionError("folds were trained for a refused request")

    monkeypatch.setattr("training.evaluation.evaluate_seeds", no_training)
    assert run.main([*TRAIN_2021, *flags, "--report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_an_end_date_past_the_data_is_said_and_training_ends_at_the_last_bar(
        tmp_path, monkeypatch, capsys):
    class Stop(Exception):
        pass

    def stop(source, symbol, end, *args, **kwargs):
        raise Stop(end)

    monkeypatch.setattr("training.pipeline.training_data", stop)
    with pytest.raises(Stop) as stopped:
        run.main(["train", "--symbol", "SPY", "--source", "sample", "--end-date", "2030-01-02",
                  "-q", "--report", str(tmp_path)])
    assert stopped.value.args[0] == pd.Timestamp("2025-12-31")
    assert ("warning: SPY: sample has bars up to 2025-12-31; training ends there, not at "
            "--end-date 2030-01-02") in capsys.readouterr().err


def test_a_history_asked_from_before_the_data_is_said_to_start_at_its_first_bar(
        tmp_path, monkeypatch, capsys):
    """--hmm-start 1990 on the sample market (from 2008): the HMM and the model start at the
    data's first bar, which is said (it was silent, visible only in training_summary.json)."""
    class Stop(Exception):
        pass

    def stop(*args, **kwargs):
        raise Stop

    monkeypatch.setattr("training.evaluation.evaluate_seeds", stop)
    with pytest.raises(Stop):
        run.main(["train", "--symbol", "SPY", "--source", "sample", "--end-date", "2009-12-31",
                  "--hmm-start", "1990-01-02", "--lstm-start", "1995-01-03", "-q",
                  "--report", str(tmp_path)])
    err = capsys.readouterr().err
    assert ("warning: SPY: sample has bars from 2008-01-02: the HMM trains on 2.0 years from "
            "there, not from --hmm-start 1990-01-02") in err
    assert ("the strategy model's history starts after its warm-up from 2008-01-02, not at "
            "1995-01-03") in err


def test_a_training_report_is_replaced_whole_and_never_a_folder_of_other_files(tmp_path,
                                                                              capsys):
    """A rerun into the same --report leaves none of the earlier run's files (a folds run's
    plots stayed beside a --folds 0 run's page); a folder of the user's files is refused
    before any work and kept."""
    report = tmp_path / "train"
    argv = [*TRAIN_2021, "--report", str(report)]
    assert run.main([*argv, "--folds", "0"]) == 0
    (report / "confusion_matrix.png").write_bytes(b"an earlier run's plot")
    assert run.main([*argv, "--folds", "0"]) == 0
    assert not (report / "confusion_matrix.png").exists()
    assert (report / "training_summary.json").is_file()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    assert run.main([*TRAIN_2021, "--folds", "0", "--report", str(mine)]) == 2
    assert "holds files that are not a training report" in capsys.readouterr().err
    assert (mine / "notes.txt").read_text() == "keep"


def test_a_history_too_short_for_the_final_model_says_so_not_a_walk_forward_block(
        tmp_path, capsys):
    """With --folds 0 there is no walk-forward block: a history too short for the final
    model's HMM said 'the walk-forward block that trains up to ...; use fewer --folds'."""
    assert run.main(["train", "--symbol", "SPY", "--source", "sample", "--end-date",
                     "2008-03-01", "--folds", "0", "--report", str(tmp_path / "r"),
                     "-q"]) == 2
    error = capsys.readouterr().err.splitlines()[-1]
    assert error.startswith("error: the final model, trained up to 2008-02-29: 41 bars up to "
                            "2008-02-29 are too short a history")
    assert error.endswith("give it a longer history") and "--folds" not in error


def test_a_history_without_a_labelled_session_is_refused_before_the_walk_forward(tmp_path,
                                                                                capsys):
    """Nine sessions give no label (a label needs its spread's exit): the walk-forward had
    no bar to start its test blocks at, an IndexError traceback."""
    assert run.main(["train", "--symbol", "SPY", "--source", "sample", "--end-date",
                     "2008-01-15", "--report", str(tmp_path / "r"), "-q"]) == 2
    error = capsys.readouterr().err.splitlines()[-1]
    assert error.startswith("error: --folds 2: no session up to 2008-01-15 has a label to "
                            "score the walk-forward on")
    assert "Traceback" not in error
