"""``run.py sweep`` end to end (its own LocalCluster), the report, and the results store."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import run
from sweeps.grid import parse_grid
from sweeps.overfitting import deflated_sharpe, sharpe_ratio
from sweeps.plan import SourceSpec, SweepSpec
from sweeps.runner import run_sweep
from sweeps.store import ResultsStore

ARGV = ["sweep", "--strategy", "equity", "--symbols", "SPY,QQQ",
        "--grid", "min_confidence=0.1,0.3,0.5", "--grid", "allow_short=false,true",
        "--start-date", "2023-01-03", "--end-date", "2024-06-28", "--walk-forward", "4", "-q"]


@pytest.fixture(scope="module")
def swept(tmp_path_factory, source_spec):
    folder = tmp_path_factory.mktemp("sweep") / "report"
    argv = [*ARGV, "--cache-dir", source_spec.cache_dir, "--report", str(folder)]
    return folder, argv


def _returns(folder, keys) -> pd.Series:
    """The folds' stored daily returns end to end, each without its first session (the
    fold's starting point, 0 by construction, as the backtest's figures leave it out)."""
    store = ResultsStore(folder)
    parts = [store.load(k)["returns"] for k in keys]
    return pd.concat([pd.Series(p["values"], index=pd.DatetimeIndex(p["dates"])).iloc[1:]
                      for p in parts])


def test_sweep_command_on_a_local_cluster_writes_the_table_and_the_report(swept, capsys):
    folder, argv = swept
    assert run.main([*argv, "--cluster", "local", "--workers", "2"]) == 0
    printed = capsys.readouterr().out
    assert "runs: 48 (48 run now, 0 already done), failed: 0" in printed
    table = pd.read_parquet(folder / "results.parquet")
    assert len(table) == 48 and table["error"].isna().all()
    assert list(table.columns[:8]) == ["key", "strategy", "signals", "symbol", "min_confidence",
                                       "allow_short", "fold", "fold_start"]
    assert table["key"].is_unique and sorted(table["fold"].unique()) == [0, 1, 2, 3]
    for name in ("results.csv", "parameter_sets.csv", "best_runs.csv", "overfitting.json",
                 "sharpe_heatmap.png", "sharpe_heatmap.csv", "summary.txt", "walk_forward.csv",
                 "walk_forward.png"):
        assert (folder / name).stat().st_size > 0, name
    assert (folder / "summary.txt").read_text() in printed
    best = pd.read_csv(folder / "best_runs.csv")
    assert list(best["sharpe"]) == sorted(best["sharpe"], reverse=True)
    heat = pd.read_csv(folder / "sharpe_heatmap.csv")  # a row per symbol and cell
    assert list(heat.columns) == ["symbol", "allow_short", "min_confidence", "sharpe"]
    sets = pd.read_csv(folder / "parameter_sets.csv")
    assert len(heat) == len(sets) == 2 * 2 * 3  # symbols x allow_short x min_confidence
    cells = sets.groupby(["symbol", "allow_short", "min_confidence"])["sharpe"].mean()
    for row in heat.itertuples():
        assert row.sharpe == pytest.approx(
            cells[(row.symbol, row.allow_short, row.min_confidence)], nan_ok=True)

    stats = json.loads((folder / "overfitting.json").read_text())
    for symbol in ("SPY", "QQQ"):
        entry = stats[symbol]
        assert entry["trials"] == 6 and entry["pbo_combinations"] == 6  # C(4, 2)
        assert 0.0 <= entry["pbo"] <= 1.0
        # the deflated Sharpe of the best trial, recomputed from the stored runs
        rows = table[table["symbol"] == symbol]
        trials = {params: _returns(folder, group["key"])
                  for params, group in rows.groupby(["min_confidence", "allow_short"])}
        sharpes = {k: sharpe_ratio(r) for k, r in trials.items()}
        winner = max(sharpes, key=sharpes.get)
        expected = deflated_sharpe(trials[winner].to_numpy(), list(sharpes.values()))
        dsr = entry["deflated_sharpe"]
        assert dsr["n_trials"] == 6 and dsr["n_observations"] == len(trials[winner])
        assert dsr["sharpe_annual"] == pytest.approx(expected.sharpe * math.sqrt(252))
        assert dsr["dsr"] == pytest.approx(expected.deflated_sharpe)
        assert entry["best"] == {"min_confidence": str(winner[0]), "allow_short": str(winner[1])}
        assert f"{symbol}: best min_confidence={winner[0]}, allow_short={winner[1]}" in printed


def test_the_walk_forward_file_trades_each_fold_on_the_set_best_before_it(swept):
    """Recomputed from the stored runs: for fold k the set(s) with the best annualized
    Sharpe of their daily returns of folds 0..k-1 joined (the PBO's in-sample statistic),
    their fold return as its run reported it, and the stitched line compounding the fold
    rows; the summary has one line per symbol."""
    folder, _ = swept
    table = pd.read_csv(folder / "results.csv")
    walk = pd.read_csv(folder / "walk_forward.csv")
    summary = (folder / "summary.txt").read_text()
    store = ResultsStore(folder)
    for symbol in ("SPY", "QQQ"):
        runs = table[table["symbol"] == symbol]
        returns = {}
        for (conf, short), group in runs.groupby(["min_confidence", "allow_short"], sort=False):
            returns[f"min_confidence={conf}, allow_short={short}"] = [
                np.asarray(store.load(k)["returns"]["values"])[1:]  # no starting 0
                for k in group.sort_values("fold")["key"]]
        rows = walk[walk["symbol"] == symbol].set_index("line")
        by_fold = rows.loc["fold"].set_index("fold")
        assert list(by_fold.index) == [1, 2, 3]
        for k in (1, 2, 3):
            means = {name: sharpe_ratio(np.concatenate(f[:k])) * math.sqrt(252)
                     for name, f in returns.items()}
            best = max(means.values())
            chosen = sorted(n for n, m in means.items() if m == pytest.approx(best, abs=1e-12))
            assert sorted(by_fold.at[k, "sets"].split(" | ")) == chosen
            assert by_fold.at[k, "in_sample_sharpe"] == pytest.approx(best, rel=1e-5)
            if len(chosen) == 1:
                conf, short = (part.split("=")[1] for part in chosen[0].split(", "))
                run = runs[(runs["min_confidence"] == float(conf))
                           & (runs["allow_short"].astype(str) == short) & (runs["fold"] == k)]
                assert by_fold.at[k, "total_return"] == pytest.approx(
                    run["total_return"].iloc[0], abs=1e-6)
        assert rows.at["walk-forward", "total_return"] == pytest.approx(
            np.prod(1 + by_fold["total_return"]) - 1, abs=1e-5)
        assert {"in-sample best", "median set", "first set", "buy and hold"} <= set(rows.index)
        assert rows.at["first set", "sets"] == "min_confidence=0.1, allow_short=False"
        assert rows.at["walk-forward", "fold_start"] == by_fold.at[1, "fold_start"]
        assert (f"{symbol}, folds 1-3 ({by_fold.at[1, 'fold_start']}..2024-06-28): "
                f"walk-forward Sharpe {rows.at['walk-forward', 'sharpe']:.2f}") in summary


def test_pbo_is_recomputed_from_the_stored_runs_with_each_half_joined(swept):
    """The paper's CSCV, by hand from runs/*.json: each half of the folds scores a set by
    the Sharpe of its daily returns end to end (the report scored the mean of its folds'
    Sharpe ratios before)."""
    import itertools

    from scipy import stats

    folder, _ = swept
    table = pd.read_csv(folder / "results.csv")
    report = json.loads((folder / "overfitting.json").read_text())
    for symbol, runs in table.groupby("symbol"):
        sets = [group.sort_values("fold")["key"].tolist()
                for _, group in runs.groupby(["min_confidence", "allow_short"])]
        folds = [[np.asarray(ResultsStore(folder).load(k)["returns"]["values"])[1:]
                  for k in keys] for keys in sets]  # each fold without its starting 0

        def sharpe(values):
            return values.mean() / values.std(ddof=1) if values.std(ddof=1) > 0 else 0.0

        overfit = 0.0
        for half in itertools.combinations(range(4), 2):
            rest = [f for f in range(4) if f not in half]
            inside = [sharpe(np.concatenate([s[f] for f in half])) for s in folds]
            outside = stats.rankdata([sharpe(np.concatenate([s[f] for f in rest]))
                                      for s in folds])
            winners = [i for i, v in enumerate(inside) if v == max(inside)]
            overfit += sum(outside[w] / (len(sets) + 1) <= 0.5 for w in winners) / len(winners)
        assert report[symbol]["pbo"] == pytest.approx(overfit / 6), symbol


def test_rerunning_the_command_serially_skips_every_finished_run(swept, capsys):
    folder, argv = swept
    before = pd.read_parquet(folder / "results.parquet")
    assert run.main([*argv, "--cluster", "serial"]) == 0
    assert "runs: 48 (0 run now, 48 already done)" in capsys.readouterr().out
    pd.testing.assert_frame_equal(pd.read_parquet(folder / "results.parquet"), before)


def test_too_little_data_fails_only_the_runs_it_cannot_feed(make_spec, sample_market,
                                                            tmp_path, source_spec):
    """LATE starts inside the second fold: the first fold has no bars, the second too few
    for the signal's warm-up before its first session (warm-up bars are never scored), so
    both of LATE's runs are rows with the reason; SPY's runs finish."""
    for symbol, first in (("SPY", None), ("LATE", "2024-04-15")):
        bars = sample_market.bars("SPY" if symbol == "SPY" else "QQQ", first, "2024-06-28")
        bars[["open", "high", "low", "close", "volume"]].rename_axis("date").to_csv(
            tmp_path / f"{symbol}.csv")
    csv = SourceSpec("csv", 42, str(tmp_path), source_spec.cache_dir)
    outcome = run_sweep(make_spec("equity", symbols=("SPY", "LATE"), source=csv),
                        tmp_path / "sweep")
    table = outcome.table.set_index(["symbol", "fold"])
    assert table["error"].notna().tolist() == [False, False, True, True]
    assert "LATE.csv: no bars up to 2024-04-01; the file covers 2024-04-15.." in table.loc[
        ("LATE", 0), "error"]
    assert "60 sessions of warm-up" in table.loc[("LATE", 1), "error"]


def test_an_unreadable_result_file_is_redone(make_spec, tmp_path):
    spec = make_spec("equity", symbols=("SPY",))
    first = run_sweep(spec, tmp_path)
    damaged = ResultsStore(tmp_path).path(first.table["key"][1])
    damaged.write_text('{"row": {"key": "')  # a torn write
    again = run_sweep(spec, tmp_path)
    assert (again.executed, again.skipped) == (1, 1)
    pd.testing.assert_frame_equal(again.table, first.table, check_exact=True)
    assert not list((tmp_path / "runs").glob(".*.tmp"))


def test_a_changed_setting_is_a_new_run_not_a_stale_one(make_spec, tmp_path):
    spec = make_spec("equity", symbols=("SPY",), grid=["min_confidence=0.2"])
    first = run_sweep(spec, tmp_path)
    more = run_sweep(make_spec("equity", symbols=("SPY",), grid=["min_confidence=0.2,0.4"]),
                     tmp_path)
    assert (more.executed, more.skipped) == (2, 2)
    assert set(first.table["key"]) < set(more.table["key"])
    other_fold_count = run_sweep(make_spec("equity", symbols=("SPY",), folds=3,
                                           grid=["min_confidence=0.2"]), tmp_path)
    assert (other_fold_count.executed, other_fold_count.skipped) == (3, 0)
    assert np.isfinite(other_fold_count.table["total_return"]).all()


def test_refused_parameter_sets_and_failed_runs_are_said_on_stderr(tmp_path, capsys):
    """dte_min=50 with dte_max=40 is a set the config refuses: said before the runs, kept
    as a row with its reason, and counted after them; the sweep still exits 0 (a set ran)."""
    argv = ["sweep", "--symbols", "SPY", "--strategy", "credit-spread", "--grid",
            "dte_min=30,50", "--grid", "dte_max=40", "--start-date", "2024-01-02",
            "--end-date", "2024-03-28", "--cluster", "serial", "-q",
            "--report", str(tmp_path / "sweep")]
    assert run.main(argv) == 0
    err = capsys.readouterr().err
    assert ("warning: 1 of 2 parameter sets are refused by the credit-spread strategy's "
            "rules (their rows carry the reason), the first: dte_min=50, dte_max=40: "
            "dte_min=50 is above dte_max=40") in err
    assert "warning: 1 run(s) failed: ValueError: dte_min=50 is above dte_max=40" in err


@pytest.mark.parametrize(("grid", "message"), [
    (["--grid", "width=500"], "error: --grid: the credit-spread strategy refuses every "
                              "parameter set, the first: width=500.0: risk_per_trade=0.02 of "
                              "100,000.00 cash is 2,000.00, less than one contract's full width"),
    (["--grid", "skip_regimes=0,1+2"], "error: --grid skip_regimes needs --signals ml"),
    (["--grid", "width=7"], "error: --grid width: no width fits any symbol's option chain, "
                            "the first: SPY: --width 7 does not fit the option chain"),
    (["--grid", "target_delta=0.2,0.3", "--grid", "width=5,10", "--heatmap",
      "target_delta,target_delta"], "name two different --grid parameters"),
])
def test_grids_that_can_never_give_a_result_are_refused_before_the_runs(grid, message, capsys):
    """A width no contract of which fits the risk budget (backtest refuses it the same
    way), regimes skipped on a signal without regimes (identical trials), one parameter on
    both heatmap axes."""
    assert run.main(["sweep", "--symbols", "SPY", "--cluster", "serial", *grid]) == 2
    assert message in capsys.readouterr().err


def test_a_window_past_the_end_of_the_data_is_cut_there_and_said(tmp_path, capsys):
    assert run.main(["sweep", "--symbols", "QQQ", "--start-date", "2025-10-01", "--end-date",
                     "2026-03-31", "--cluster", "serial", "--report",
                     str(tmp_path / "sweep")]) == 0
    captured = capsys.readouterr()
    assert ("warning: the data of QQQ ends 2025-12-31: the sweep's window ends there, not "
            "2026-03-31") in captured.err
    assert "2025-10-01..2025-12-31, 1 fold(s)" in captured.out
    assert "1 fold: nothing to select" in captured.out  # the default: said, not an error
    assert not (tmp_path / "sweep" / "walk_forward.csv").exists()


def test_a_sweep_in_which_no_run_finished_exits_1():
    from cli.sweep import report_failures

    table = pd.DataFrame({"error": [None, "DataError: no bars", "DataError: no bars"]})
    assert report_failures(table) == 0
    assert report_failures(table.iloc[1:]) == 1
    assert report_failures(pd.DataFrame({"error": [None, None]})) == 0


def test_a_folder_of_other_files_is_refused_and_left_as_it_is(tmp_path, monkeypatch, capsys):
    """The sweep writes results.csv, summary.txt, ... into its folder: one holding the
    user's own files (the folder the command runs in, too) is refused before any work,
    as backtest refuses it; `--report .` overwrote a results.csv and a summary.txt."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "results.csv").write_text("my results\n")
    (folder / "summary.txt").write_text("my notes\n")
    argv = ["sweep", "--symbols", "SPY", "--start-date", "2024-01-02", "--end-date",
            "2024-03-28", "--cluster", "serial", "-q"]
    assert run.main([*argv, "--report", str(folder)]) == 2
    assert capsys.readouterr().err.startswith(
        f"error: --report {folder} holds files that are not a sweep's (no runs/ folder of "
        "its results store)")
    monkeypatch.chdir(folder)
    assert run.main([*argv, "--report", "."]) == 2
    assert "error: --report . holds files that are not a sweep's" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == ["results.csv", "summary.txt"]
    assert (folder / "results.csv").read_text() == "my results\n"
    # an earlier sweep's folder (its runs/ store) and an empty one are taken
    store = tmp_path / "store"
    assert run.main([*argv, "--report", str(store)]) == 0
    assert run.main([*argv, "--report", str(store)]) == 0
    assert "(0 run now, 1 already done)" in capsys.readouterr().out


def test_a_window_past_the_data_says_where_the_data_is(tmp_path, capsys):
    assert run.main(["sweep", "--symbols", "SPY", "--grid", "target_delta=0.2,0.3",
                     "--end-date", "2030-01-02", "--cluster", "serial", "-q",
                     "--report", str(tmp_path / "sweep")]) == 2
    assert ("0 sessions cannot make 1 walk-forward folds of at least 2 sessions each; widen "
            "the window or use fewer folds; sample has SPY from 2008-01-02 to 2025-12-31"
            in capsys.readouterr().err)


def test_the_contract_commission_reaches_every_spread_run_and_is_part_of_its_key(
        make_spec, tmp_path):
    """``--commission-per-contract`` as in a backtest: a spread sweep without commissions
    earns more than one at the default, and is a run of its own (a default run keeps the
    key it had before the option existed)."""
    from dataclasses import replace

    spec = make_spec(symbols=("SPY",), folds=1, grid=["target_delta=0.3"])
    paid = run_sweep(spec, tmp_path)
    free = run_sweep(replace(spec, commission_per_contract=0.0), tmp_path)
    assert (free.executed, free.skipped) == (1, 0)
    assert free.table["key"][0] != paid.table["key"][0]
    assert free.table["trades"][0] == paid.table["trades"][0] > 0
    assert free.table["total_return"][0] > paid.table["total_return"][0]
    again = run_sweep(spec, tmp_path)
    assert (again.executed, again.skipped) == (0, 1)


def test_the_option_slippage_reaches_every_spread_run_and_is_refused_before_any(
        make_spec, tmp_path):
    """``--option-slippage`` as in a backtest: mid fills that give up 0.05 a share earn
    less, in runs of their own; with natural fills it is refused before any run."""
    from dataclasses import replace

    from core.errors import DataError

    spec = replace(make_spec(symbols=("SPY",), folds=1, grid=["target_delta=0.3"]),
                   option_fill="mid")
    mid = run_sweep(spec, tmp_path)
    slipped = run_sweep(replace(spec, option_slippage=0.05), tmp_path)
    assert (slipped.executed, slipped.skipped) == (1, 0)
    assert slipped.table["key"][0] != mid.table["key"][0]
    assert slipped.table["total_return"][0] < mid.table["total_return"][0]
    with pytest.raises(DataError, match="applies only with --option-fill mid"):
        run_sweep(replace(spec, option_fill="natural", option_slippage=0.05), tmp_path)


def test_a_csv_sweep_without_symbols_sweeps_every_file(tmp_path, capsys):
    """As backtest: with --source csv and no --symbols, the files' symbols (not SPY)."""
    days = pd.bdate_range("2023-01-02", periods=150)
    for name, drift in (("AAA", 0.1), ("BBB", -0.05)):
        prices = [round(100 + drift * i, 2) for i in range(len(days))]
        (tmp_path / f"{name}.csv").write_text("date,open,high,low,close,volume\n" + "".join(
            f"{d:%Y-%m-%d},{p},{p + 1},{p - 1},{p},1000\n" for d, p in zip(days, prices,
                                                                      strict=True)))
    assert run.main(["sweep", "--source", "csv", "--csv", str(tmp_path), "--strategy",
                     "equity", "--grid", "min_confidence=0.2", "--cluster", "serial", "-q",
                     "--report", str(tmp_path / "sweep")]) == 0
    table = pd.read_csv(tmp_path / "sweep" / "results.csv")
    assert sorted(set(table["symbol"])) == ["AAA", "BBB"]
    # business days are not NYSE sessions: each run carries its backtest's calendar warning
    assert table["warnings"].str.contains("row(s) on days NYSE did not trade",
                                          regex=False).all()
    assert ("warning: 2 of 2 runs have warnings (the warnings column of results.csv), the "
            "first: AAA fold 0: ") in capsys.readouterr().err


def _equity_sweep(report, cache_dir, grid, start, *extra) -> tuple[int, str, dict]:
    argv = ["sweep", "--strategy", "equity", "--symbols", "SPY", "--grid", grid,
            "--start-date", start, "--end-date", "2024-12-31", "--walk-forward", "4",
            "--cluster", "serial", "-q", "--cache-dir", cache_dir, "--report", str(report),
            *extra]
    code = run.main(argv)
    return code, (report / "summary.txt").read_text(), json.loads(
        (report / "overfitting.json").read_text())["SPY"]


@pytest.fixture(scope="module")
def binds_in_one_fold(tmp_path_factory, source_spec):
    """SPY 2023-2024 in 4 folds, min_confidence 0.3, 0.5, 0.7: the threshold binds in the
    first fold only; no set trades in the last two. The folder and SPY's overfitting entry."""
    folder = tmp_path_factory.mktemp("binds") / "sweep"
    _, _, entry = _equity_sweep(folder, source_spec.cache_dir, "min_confidence=0.3,0.5,0.7",
                                "2023-01-03")
    return folder, entry


def test_pbo_is_the_same_whatever_the_order_of_the_grid(binds_in_one_fold, source_spec):
    """min_confidence binds in one fold of 2023-2024 only: in the others the three sets hold
    the same positions, so half the CSCV splits have a tied in-sample best. Taking the first
    set of the grid there made SPY's PBO 0.50 in this order and 1.00 in reverse (the same
    runs, reused from the store); each tied set counted equally, both give 5/6."""
    folder, forward = binds_in_one_fold
    walk_forward = pd.read_csv(folder / "walk_forward.csv")
    _, summary, reverse = _equity_sweep(folder, source_spec.cache_dir,
                                        "min_confidence=0.7,0.5,0.3", "2023-01-03")
    # so is the walk-forward selection (the first set of the grid is another set, though)
    same = ["fold", "walk-forward", "median set", "buy and hold"]
    reversed_walk = pd.read_csv(folder / "walk_forward.csv")
    for frame in (walk_forward, reversed_walk):
        frame["sets"] = [" | ".join(sorted(s.split(" | "))) for s in frame["sets"]]
    pd.testing.assert_frame_equal(walk_forward[walk_forward["line"].isin(same)],
                                  reversed_walk[reversed_walk["line"].isin(same)])
    assert "runs: 12 (0 run now, 12 already done)" in summary
    assert forward["pbo"] == pytest.approx(reverse["pbo"]) == pytest.approx(5 / 6)
    assert forward["pbo_tied_splits"] == 3
    assert sum(forward["pbo_logit_weights"]) == pytest.approx(forward["pbo_combinations"])
    assert "PBO 0.83 over 6 CSCV splits (3 with a tied in-sample best" in summary


def test_a_grid_that_never_trades_has_no_deflated_sharpe_and_no_pbo(tmp_path, source_spec):
    """In 2024 no set of this grid trades: every run is idle cash. The report said
    'deflated Sharpe 0.500; PBO 1.00' (a coin flip, certain overfitting) for nothing."""
    code, summary, entry = _equity_sweep(tmp_path / "sweep", source_spec.cache_dir,
                                         "min_confidence=0.3,0.5,0.7", "2024-01-02")
    assert code == 0
    assert entry["deflated_sharpe"]["dsr"] is None and entry["pbo"] is None
    assert ("deflated Sharpe n/a (its daily returns never change: it never traded, so it has "
            "no Sharpe to test)") in summary
    assert ("PBO not computed: every parameter set scored the same in every fold" in summary)


def test_a_run_on_changed_csv_data_is_a_new_run_not_a_stale_one(sample_market, tmp_path,
                                                                 source_spec):
    """The CSV path names the data, not what it holds: a file corrected (or extended
    backwards) after a sweep gave the old results again on a rerun into the same folder."""
    bars = sample_market.bars("SPY", "2023-01-03", "2024-06-28")
    frame = bars[["open", "high", "low", "close", "volume"]].rename_axis("date")
    (tmp_path / "data").mkdir()
    frame.to_csv(tmp_path / "data" / "SPY.csv")
    csv = SourceSpec("csv", 42, str(tmp_path / "data"), source_spec.cache_dir)
    spec = SweepSpec("equity", ("SPY",), parse_grid("equity", ["allow_short=true"]),
                     pd.Timestamp("2024-01-02"), pd.Timestamp("2024-06-28"), 2, csv)
    first = run_sweep(spec, tmp_path / "sweep")
    again = run_sweep(spec, tmp_path / "sweep")
    assert (again.executed, again.skipped) == (0, 2)  # unchanged data: reused
    changed = frame.copy()
    late = changed.index > first.table["fold_end"][0]  # in the second fold only
    changed.loc[late, ["open", "high", "low", "close"]] *= 1.5
    changed.to_csv(tmp_path / "data" / "SPY.csv")
    from sweeps.plan import open_source

    open_source.cache_clear()  # a new command: the source is opened afresh
    after = run_sweep(spec, tmp_path / "sweep")
    assert (after.executed, after.skipped) == (1, 1)  # the first fold saw none of the change
    assert after.table["key"][0] == first.table["key"][0]
    assert after.table["total_return"][1] != first.table["total_return"][1]


def test_the_code_digest_covers_every_package_of_ours_but_the_command_line():
    """The packages a run key hashes are this project's own (the import contracts' root
    packages, ``cli`` aside), each a folder with an ``__init__.py``: an untracked output
    folder named like a package (``signals/``, premarket's) once stood in the list, and a
    fresh checkout, which has no such folder, could not make a key."""
    import configparser
    from pathlib import Path

    from sweeps import plan

    root = Path(plan.__file__).resolve().parents[1]
    config = configparser.ConfigParser()
    config.read(root / "setup.cfg")
    ours = set(config["importlinter"]["root_packages"].split()) - {"cli"}
    assert set(plan.RESULT_PACKAGES) == ours
    assert all((root / name / "__init__.py").is_file() for name in plan.RESULT_PACKAGES)
    assert [r.name for r in plan.code_roots()] == list(plan.RESULT_PACKAGES)


def test_a_run_after_a_change_of_the_code_is_a_new_run_not_a_stale_one(tmp_path,
                                                                      source_spec,
                                                                      monkeypatch):
    """Run keys named the settings and the data but not the code: a sweep rerun into the
    same folder after an upgrade (or an edit of a strategy) gave the old code's results.
    The code here is a stand-in folder, since a test must not edit the project's files."""
    from sweeps import plan

    code = tmp_path / "strategies"
    (code / "__pycache__").mkdir(parents=True)
    (code / "rules.py").write_text("THRESHOLD = 0.5\n")
    monkeypatch.setattr(plan, "code_roots", lambda: [code])
    plan.code_digest.cache_clear()
    spec = SweepSpec("equity", ("SPY",), parse_grid("equity", ["allow_short=true"]),
                     pd.Timestamp("2024-01-02"), pd.Timestamp("2024-06-28"), 2, source_spec)
    first = run_sweep(spec, tmp_path / "sweep")
    (code / "__pycache__" / "rules.cpython-311.pyc").write_bytes(b"compiled")
    plan.code_digest.cache_clear()
    again = run_sweep(spec, tmp_path / "sweep")
    assert (again.executed, again.skipped) == (0, 2)  # the same code: reused
    (code / "rules.py").write_text("THRESHOLD = 0.6\n")
    plan.code_digest.cache_clear()  # a new process, after the edit
    after = run_sweep(spec, tmp_path / "sweep")
    assert (after.executed, after.skipped) == (2, 0)
    assert set(after.table["key"]).isdisjoint(first.table["key"])
    plan.code_digest.cache_clear()


def test_the_mean_fold_sharpe_counts_an_idle_fold_as_zero(binds_in_one_fold):
    """No set of this grid trades in the last two folds of 2023-2024: their Sharpe is 0,
    but the mean fold Sharpe of parameter_sets.csv skipped them (0.3's read 0.19, the mean
    of two of its four folds)."""
    folder, _ = binds_in_one_fold
    table = pd.read_csv(folder / "results.csv")
    sets = pd.read_csv(folder / "parameter_sets.csv").set_index("min_confidence")
    assert table.loc[table["fold"] >= 2, "trades"].eq(0).all()
    for value, runs in table.groupby("min_confidence"):
        folds = [np.asarray(ResultsStore(folder).load(k)["returns"]["values"])[1:]
                 for k in runs.sort_values("fold")["key"]]
        by_hand = [f.mean() / f.std(ddof=1) * math.sqrt(252) if f.std() > 0 else 0.0
                   for f in folds]
        assert sets.at[value, "fold_sharpe_mean"] == pytest.approx(np.mean(by_hand))


def test_a_sweep_of_many_folds_scores_pbo_over_groups_of_folds(tmp_path, source_spec):
    """20 folds are C(20, 10) = 184,756 CSCV combinations (40 folds: 1.4e11, a report that
    never ended after its runs); in 10 groups of 2 consecutive folds they are 252."""
    code, summary, entry = _equity_sweep(tmp_path / "sweep", source_spec.cache_dir,
                                         "min_confidence=0.2,0.4", "2023-01-03",
                                         "--grid", "allow_short=true", "--walk-forward", "20")
    assert code == 0 and "runs: 40 (40 run now" in summary
    assert (entry["pbo_groups"], entry["pbo_folds_per_group"]) == (10, 2)
    assert entry["pbo_combinations"] == 252 and 0.0 <= entry["pbo"] <= 1.0
    assert "over 252 CSCV splits (10 groups of 2 consecutive folds)" in summary
