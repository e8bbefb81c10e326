"""The direction model (features -> triple-barrier labels -> six members -> meta-model):
purged walk-forward, an honest evaluation table, out-of-fold stacking, causal and
bar-by-bar scoring, determinism, the store, the config file and clear errors."""

import json

import numpy as np
import pandas as pd
import pytest

from core.errors import DataError
from models.contract import SignalModel
from models.direction_members import MEMBERS
from models.direction_model import (
    DIRECTION_NAMES,
    OUTPUT_COLUMNS,
    DirectionConfig,
    DirectionModel,
    make_direction_config,
)
from models.direction_scores import TABLE_COLUMNS
from models.direction_store import load_direction_model, save_direction_model
from models.evaluation import EDGE_MIN_STANDARD_ERRORS, paired_log_loss_difference
from models.features import LOOKBACK
from models.meta_model import StackingMeta


@pytest.fixture(scope="module")
def scored_bars(sample_market):
    """Bars after the training window (which ends 2021-12-31), with warm-up before."""
    return sample_market.bars("SPY", "2021-09-01", "2022-03-31")


@pytest.fixture(scope="module")
def fast_model(direction_training_bars, fast_direction_config):
    return DirectionModel(fast_direction_config).fit(direction_training_bars)


def test_fit_trains_every_member_and_a_stacking_meta_model(tiny_direction_model,
                                                           direction_training_bars):
    model = tiny_direction_model
    assert list(model.members_) == list(MEMBERS) and isinstance(model.meta_, StackingMeta)
    assert model.trained_until == direction_training_bars.index[-1]
    assert model.warmup_bars == 79 + 4
    assert set(model.groups_) == {"price", "volume", "flow", "volume_oi", "premium",
                                  "dark_pool", "filters", "iv", "iv_skew"}
    assert {"atm_iv", "iv_minus_rv", "iv_skew"} <= set(model.feature_names_)
    counts = model.fit_info_["class_counts"]
    assert set(counts) == set(DIRECTION_NAMES) and min(counts.values()) > 10


def test_walk_forward_blocks_train_only_on_purged_earlier_labels(tiny_direction_model,
                                                                  direction_training_bars):
    index = direction_training_bars.index
    folds = tiny_direction_model.fit_info_["folds"]
    assert len(folds) == 2 and all(f["n_test"] > 0 for f in folds)
    for fold in folds:
        start = index.get_loc(pd.Timestamp(fold["test_start"]))
        last_label = index.get_loc(pd.Timestamp(fold["last_label_end"]))
        embargo = tiny_direction_model.config.embargo
        assert last_label < start - embargo  # no training label reads into the block
        assert fold["n_purged"] > 0  # and there were labels that would have
    assert folds[1]["n_train"] > folds[0]["n_train"]


def test_evaluation_table_matches_the_out_of_fold_predictions(tiny_direction_model):
    model = tiny_direction_model
    table, oof = model.evaluation_, model.oof_
    assert list(table.index) == [*MEMBERS, "meta", "meta_bayes", "majority", "logistic",
                                 "always_buy", "oracle", "foresight"]
    assert list(table.columns) == list(TABLE_COLUMNS)  # the strategy model's, plus hit rates
    evaluated = oof[oof["fold"] >= 2]
    y = evaluated["label"].to_numpy()
    assert (table["n"] == len(y)).all() and len(y) == model.fit_info_["n_evaluated"] > 30
    buy_share = (y == 2).mean()
    assert table.loc["always_buy", "accuracy"] == pytest.approx(buy_share)
    assert table.loc["always_buy", "buy_hit_rate"] == pytest.approx(buy_share)
    assert np.isnan(table.loc["always_buy", "sell_hit_rate"])
    for name in ("gru", "meta"):
        prefix = name if name != "meta" else "meta_stack"
        proba = evaluated[[f"{prefix}_p_sell", f"{prefix}_p_neutral", f"{prefix}_p_buy"]]
        pred = proba.to_numpy().argmax(axis=1)
        if name == "meta":  # its call: the likeliest class relative to its frequency
            pred = evaluated["meta_stack_call"].to_numpy()
        assert table.loc[name, "accuracy"] == pytest.approx((pred == y).mean())
        calls = pred == 0
        if calls.any():
            assert table.loc[name, "sell_hit_rate"] == pytest.approx((y[calls] == 0).mean())
        # a call earns the label's trade: BUY the forward return, SELL minus it
        ret = evaluated["ret"].to_numpy()
        pnl = np.where(pred == 2, ret, np.where(pred == 0, -ret, 0.0))
        assert table.loc[name, "mean_pnl"] == pytest.approx(pnl.mean())
    # the ceilings and the floor of the edge shares
    assert table.loc["foresight", "accuracy"] == 1.0
    assert table.loc["foresight", "mean_pnl"] > max(table.loc["oracle", "mean_pnl"], 0)
    # shares only of an oracle margin that stands out of the bars' noise (2 paired errors)
    def proba_of(prefix):
        return evaluated[[f"{prefix}_p_sell", f"{prefix}_p_neutral", f"{prefix}_p_buy"]]

    diff, se = paired_log_loss_difference(y, proba_of("oracle"), proba_of("majority"))
    assert (table.loc["oracle", "edge_log_loss"] == pytest.approx(1.0)
            if -diff >= EDGE_MIN_STANDARD_ERRORS * se
            else np.isnan(table["edge_log_loss"]).all())  # no edge to share out
    assert (np.isnan(table["edge_pnl"]).all()
            or table.loc[["majority", "oracle"], "edge_pnl"].tolist() == pytest.approx([0, 1]))
    assert np.isfinite(table.loc[[*MEMBERS, "meta", "majority", "logistic", "oracle"],
                                 "log_loss"]).all()
    assert set(model.evaluation_folds_["model"]) == set(table.index)
    # the meta-model against the majority class, bar by bar on the same bars
    versus = model.fit_info_["meta_vs_majority"]
    assert versus["bars"] == len(y) and versus["standard_error"] > 0
    assert versus["log_loss_difference"] == pytest.approx(
        table.loc["meta", "log_loss"] - table.loc["majority", "log_loss"], abs=1e-9)
    assert json.loads(json.dumps(model.metadata()))["samples"]["meta_vs_majority"] == versus


def test_xgboost_importance_ranks_every_feature(tiny_direction_model):
    importance = tiny_direction_model.importance_
    assert set(importance.index) == set(tiny_direction_model.feature_names_)
    assert importance.is_monotonic_decreasing and importance.iloc[0] > 0
    assert importance.sum() == pytest.approx(1.0)


def test_scores_are_causal(tiny_direction_model, scored_bars):
    full = tiny_direction_model.predict_frame(scored_bars)
    short = tiny_direction_model.predict_frame(scored_bars.iloc[:110])
    pd.testing.assert_frame_equal(short, full.iloc[:110])
    assert list(full.columns) == list(OUTPUT_COLUMNS)
    warm = tiny_direction_model.warmup_bars
    assert full.iloc[:warm].isna().all(axis=None) and full.iloc[warm:].notna().all(axis=None)
    probs = full[["p_sell", "p_neutral", "p_buy"]].iloc[warm:].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-9)
    # the call: the likeliest class relative to its frequency; its confidence: that class's
    # probability with the three weighed equally
    weighed = tiny_direction_model.meta_.call_proba(probs)
    winner = weighed.argmax(axis=1)
    np.testing.assert_array_equal(winner, tiny_direction_model.meta_.decide(probs))
    np.testing.assert_array_equal(full["direction"].iloc[warm:], winner - 1)
    np.testing.assert_array_equal(full["confidence"].iloc[warm:], weighed.max(axis=1))


def test_bar_by_bar_stream_equals_the_batch(tiny_direction_model, scored_bars):
    bars = scored_bars.iloc[:115]
    batch = tiny_direction_model.predict_frame(bars).to_numpy()
    stream = tiny_direction_model.stream()
    live = np.array([stream.update(day, row) for day, row in bars.iterrows()])
    # the stream scores through the members' live paths (numpy forward passes for the keras
    # members): the same direction, probabilities within 1e-5 of the batch's
    np.testing.assert_array_equal(np.isnan(live), np.isnan(batch))
    np.testing.assert_array_equal(live[:, 0], batch[:, 0])
    np.testing.assert_allclose(live[:, 1:], batch[:, 1:], rtol=0, atol=1e-5)


def test_stream_features_from_numpy_columns_equal_the_frames_bit_for_bit(
        tiny_direction_model, scored_bars):
    """A stream computes its newest row from the window's numpy columns
    (``BarWindow.arrays``), not a pandas frame per bar: every row is the batch's to the bit."""
    model = tiny_direction_model
    X = model._features(scored_bars)
    stream = model.stream()
    rows = []
    for day, bar in scored_bars.iterrows():
        if stream.bars.append(day, bar):
            window = stream.bars
            frame = window.frame()
            for column, values in window.arrays().items():  # the frame's numbers
                np.testing.assert_array_equal(values, frame[column].to_numpy())
            rows.append(model._newest_features(window.arrays(), list(window.dates)))
    assert len(rows) == len(scored_bars) - LOOKBACK + 1 > 20
    np.testing.assert_array_equal(np.array(rows), X[LOOKBACK - 1:])


def test_stream_refuses_what_the_batch_refuses(tiny_direction_model, scored_bars):
    """A NaN input column, a bad close and dates out of order are the same DataErrors bar
    by bar as in ``predict_frame``, naming the column and the date."""
    bars = scored_bars.iloc[:LOOKBACK]
    cases = {("dark_pool_ratio", "direction features: dark_pool_ratio is NaN or infinite on"
              f" {bars.index[-1]:%Y-%m-%d}"),
             ("close", f"NaN or non-positive prices: close is nan on {bars.index[-1]:%Y-%m-%d}")}
    for column, message in cases:
        holed = bars.copy()
        holed.iloc[-1, holed.columns.get_loc(column)] = np.nan
        with pytest.raises(DataError, match=message):
            tiny_direction_model.predict_frame(holed)
        stream = tiny_direction_model.stream()
        with pytest.raises(DataError, match=message):
            for day, bar in holed.iterrows():
                stream.update(day, bar)
    stream = tiny_direction_model.stream()
    days = list(bars.index)
    days[-1] = days[-2]  # the newest bar repeats a session
    with pytest.raises(DataError, match="ascending, unique"):
        for day, (_, bar) in zip(days, bars.iterrows(), strict=True):
            stream.update(day, bar)


def test_every_members_live_path_equals_its_batch_path(tiny_direction_model, scored_bars):
    """One window (or row) at a time through ``predict_proba_live`` gives each member's
    batch probabilities within 1e-5, and so does the meta-model on top of them."""
    model = tiny_direction_model
    assert set(model.members_) == {"xgboost", "random_forest", "gradient_boosting", "lstm",
                                   "gru", "tcn"}
    X = model._features(scored_bars.iloc[:140])
    ends = np.arange(model.warmup_bars, len(X))
    for name, member in model.members_.items():
        inputs = model._inputs(member.kind, X, ends)
        batch = member.predict_proba(inputs)
        live = np.concatenate([member.predict_proba_live(inputs[i:i + 1])
                               for i in range(len(inputs))])
        np.testing.assert_allclose(live, batch, rtol=0, atol=1e-5, err_msg=name)
    batch = model._score(X, ends)
    live = np.concatenate([model._score(X[: e + 1], np.array([e]), live=True) for e in ends])
    np.testing.assert_allclose(live, batch, rtol=0, atol=1e-5)


def test_meta_model_sees_only_out_of_fold_predictions(fast_model, direction_training_bars):
    """Shuffling the bars after a date inside the second block changes no out-of-fold
    member probability and no meta-model output before that date."""
    bars = direction_training_bars
    second = fast_model.oof_[fast_model.oof_["fold"] == 2].index
    cut = second[len(second) // 3]
    after = np.flatnonzero(bars.index >= cut)
    shuffled = bars.copy()
    order = np.random.default_rng(5).permutation(after)
    shuffled.iloc[after] = bars.iloc[order].to_numpy()
    other = DirectionModel(fast_model.config).fit(shuffled)
    mine, theirs = fast_model.oof_, other.oof_
    before = mine[mine.index < cut]
    assert len(before) > 50 and (before["fold"] == 2).sum() > 5
    probabilities = [c for c in mine if c.endswith(("_p_sell", "_p_neutral", "_p_buy"))]
    pd.testing.assert_frame_equal(theirs.loc[theirs.index < cut, ["fold", *probabilities]],
                                  before[["fold", *probabilities]])
    settled = before["label_end"] < cut  # labels reading past the cut may differ, no more
    pd.testing.assert_series_equal(theirs.loc[before.index[settled], "label"],
                                   before.loc[settled, "label"])
    meta = [c for c in mine if c.startswith("meta_")]
    assert before.loc[before["fold"] == 2, meta].notna().all(axis=None)
    # the shuffle did reach the later rows (the test could fail)
    later = mine.index[mine.index >= cut].intersection(theirs.index)
    assert not np.allclose(theirs.loc[later, meta], mine.loc[later, meta])


def test_training_is_deterministic(fast_model, direction_training_bars, scored_bars):
    again = DirectionModel(fast_model.config).fit(direction_training_bars)
    pd.testing.assert_frame_equal(again.predict_frame(scored_bars),
                                  fast_model.predict_frame(scored_bars))
    pd.testing.assert_frame_equal(again.evaluation_, fast_model.evaluation_)


def test_members_trained_side_by_side_equal_members_trained_in_turn(
        fast_model, direction_training_bars, scored_bars, monkeypatch):
    """The tree members and the keras members train on two threads (``in_lanes``) where
    there are two cores: the same model, bit for bit, as one member after another."""
    import threading

    import models.direction_model as direction_model
    from models.direction_members import GradientBoostingMember, GRUMember

    threads: dict[str, set[str]] = {"gradient_boosting": set(), "gru": set()}
    for cls in (GradientBoostingMember, GRUMember):
        def fit(self, *args, _real=cls.fit, **kwargs):
            threads[self.name].add(threading.current_thread().name)
            return _real(self, *args, **kwargs)
        monkeypatch.setattr(cls, "fit", fit)
    models = {}
    for cores in (1, 2):
        monkeypatch.setattr(direction_model, "available_cores", lambda cores=cores: cores)
        models[cores] = DirectionModel(fast_model.config).fit(direction_training_bars)
    main = threading.main_thread().name
    lanes = {name: names - {main} for name, names in threads.items()}
    assert all(lanes.values()) and lanes["gradient_boosting"].isdisjoint(lanes["gru"])
    for model in models.values():
        pd.testing.assert_frame_equal(model.predict_frame(scored_bars),
                                      fast_model.predict_frame(scored_bars))
        pd.testing.assert_frame_equal(model.evaluation_, fast_model.evaluation_)


@pytest.mark.parametrize("cores", [1, 2])
def test_a_member_that_fails_in_its_lane_fails_the_fit(cores, monkeypatch):
    import models.direction_model as direction_model

    monkeypatch.setattr(direction_model, "available_cores", lambda: cores)
    done = []

    def work(name):
        if name == "gru":
            raise ValueError("gru: the windows are empty")
        done.append(name)

    with pytest.raises(ValueError, match="gru: the windows are empty"):
        direction_model.in_lanes(work, [["xgboost", "random_forest"], ["gru", "tcn"]])
    assert "tcn" not in done  # the failing lane stops at its error


def test_store_round_trip(tiny_direction_model, direction_training_bars, scored_bars,
                          tmp_path):
    assert isinstance(tiny_direction_model, SignalModel)
    folder = save_direction_model(tiny_direction_model, "spy", tmp_path,
                                  metadata={"source": "sample"},
                                  training_bars=direction_training_bars)
    assert folder.parent == tmp_path / "direction" / "SPY"
    for name in ("direction_model.pkl", "metadata.json", "lstm.keras", "gru.keras",
                 "tcn.keras"):
        assert (folder / name).exists() and (folder.parent / "latest" / name).exists()
    loaded = load_direction_model("latest", symbol="spy", root=tmp_path)
    pd.testing.assert_frame_equal(loaded.predict_frame(scored_bars),
                                  tiny_direction_model.predict_frame(scored_bars))
    assert loaded.trained_until == tiny_direction_model.trained_until
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["symbol"] == "SPY" and meta["source"] == "sample"
    assert meta["training_window"]["end"] == "2021-12-31" and len(meta["data_hash"]) == 64
    assert meta["features"] == list(tiny_direction_model.feature_names_)
    assert set(meta["evaluation"]) == set(tiny_direction_model.evaluation_.index)
    assert "xgboost-cpu" in meta["libraries"] and meta["config"]["epochs"] == 1
    with pytest.raises(DataError, match="no direction model folder"):
        load_direction_model("latest", symbol="QQQ", root=tmp_path)
    meta["features"] = meta["features"][:3]
    (folder / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="metadata lists the features"):
        load_direction_model(folder)


def test_bars_with_another_feature_set_are_refused_naming_both(tiny_direction_model,
                                                               scored_bars):
    plain = scored_bars[["open", "high", "low", "close", "volume"]]
    with pytest.raises(DataError, match=r"trained on the feature set \[price, volume, flow"
                                        r".*the bars give \[price, volume, filters\]"):
        tiny_direction_model.predict_frame(plain)
    holed = scored_bars.copy()
    holed.iloc[100, holed.columns.get_loc("dark_pool_ratio")] = np.nan
    with pytest.raises(DataError, match="dark_pool_ratio is NaN"):
        tiny_direction_model.predict_frame(holed)


def test_short_history_and_bad_prices_are_data_errors(tiny_direction_model,
                                                     direction_training_bars):
    tiny = tiny_direction_model.config
    with pytest.raises(DataError, match="too little history"):
        DirectionModel(tiny).fit(direction_training_bars.iloc[:150])
    with pytest.raises(DataError, match="too little history"):
        DirectionModel(tiny).fit(direction_training_bars.iloc[:60])
    holed = direction_training_bars.copy()
    holed.iloc[40, holed.columns.get_loc("close")] = np.nan
    with pytest.raises(DataError, match="NaN or non-positive prices: close is nan on"):
        DirectionModel(tiny).fit(holed)
    with pytest.raises(RuntimeError, match="not fitted"):
        DirectionModel(tiny).predict_frame(direction_training_bars)


@pytest.mark.parametrize(("line", "message"), [
    ("horizon = 2.5", "horizon=2.5 must be a whole number"),
    ('n_estimators = "8"', "n_estimators='8' must be a whole number"),
    ("embargo = true", "embargo=True must be a whole number"),
    ('learning_rate = "fast"', "learning_rate='fast' must be a number"),
    ('tcn_dilations = [1, "2"]', "tcn_dilations=[1, '2'] must be a list of whole numbers"),
    ("learning_rate = -3", "learning_rate=-3 must be above 0"),
    ("dropout = 1.5", "dropout=1.5 must be from 0 to below 1"),
    ("profit_take = -1", "profit_take=-1 must be above 0"),
    ("stop_loss = 0", "stop_loss=0 must be above 0"),
    ("max_train_bars = -10", "max_train_bars=-10 must be 0 (all bars) or more"),
    ("seed = -1", "seed=-1 must be from 0 to "),
])
def test_config_values_no_model_can_train_with_are_refused(tmp_path, line, message):
    """Refused where the config is made, with the field and what it must be: before, they
    were XGBoost's or keras's tracebacks after other members had trained, or silently used
    (a negative barrier, ``true`` as a count)."""
    toml = tmp_path / "d.toml"
    toml.write_text(f"[direction]\n{line}\n")
    with pytest.raises(DataError) as refused:
        make_direction_config(toml)
    assert message in str(refused.value) and str(refused.value).startswith(f"{toml}: ")


def test_config_file_overrides_and_refuses_unknown_keys(tmp_path):
    assert make_direction_config() == DirectionConfig()
    toml = tmp_path / "d.toml"
    toml.write_text('[direction]\nmembers = ["xgboost", "gru"]\nsequence_length = 8\n'
                    'meta = "bayes"\n')
    config = make_direction_config(toml, epochs=2)
    assert config.members == ("xgboost", "gru") and config.sequence_length == 8
    assert config.meta == "bayes" and config.epochs == 2
    yaml = tmp_path / "d.yaml"
    yaml.write_text("direction:\n  n_estimators: 12\n  tcn_dilations: [1, 2]\n")
    assert make_direction_config(yaml).tcn_dilations == (1, 2)
    toml.write_text("[direction]\nepoch = 3\n")
    with pytest.raises(DataError, match="unknown keys epoch"):
        make_direction_config(toml)
    toml.write_text('[direction]\nmembers = ["xgboost", "random_forest"]\n')  # no network
    with pytest.raises(DataError, match="--epochs trains the lstm/gru/tcn members; the "
                                        r"model's members \(xgboost, random_forest\) have none"):
        make_direction_config(toml, epochs=5)
    toml.write_text("[direction]\nepochs = 3\n[lstm]\nepochs = 3\n")  # train's table
    with pytest.raises(DataError, match=r"unknown sections lstm \(use \[direction\] only\)"):
        make_direction_config(toml)
    yaml.write_text("- direction\n")
    with pytest.raises(DataError, match="expected tables of settings"):
        make_direction_config(yaml)
    toml.write_text("[directions]\nepochs = 3\n")
    with pytest.raises(DataError, match=r"no \[direction\] table"):
        make_direction_config(toml)
    toml.write_text('[direction]\nmembers = ["xgboost", "svm"]\n')
    with pytest.raises(DataError, match="members must be distinct names"):
        make_direction_config(toml)
    # a stacking regression without regularisation budget cannot be fitted: refused here,
    # not inside the fit after the members' training
    toml.write_text("[direction]\nmeta_c = 0\n")
    with pytest.raises(DataError, match="meta_c must be above 0"):
        make_direction_config(toml)
    toml.write_text("[direction]\nmeta_balanced = true\nmeta_c = 1.0\n")
    assert make_direction_config(toml).meta_balanced
