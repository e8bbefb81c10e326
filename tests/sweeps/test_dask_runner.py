"""Sweeps on a real Dask LocalCluster (2 worker processes, 127.0.0.1): the same table as the
serial run, failing runs as rows, resume after an interruption, a killed worker."""

from __future__ import annotations

import functools

import pandas as pd
import pytest
import sweep_tasks

from sweeps.runner import run_sweep
from sweeps.store import ResultsStore

# 2 symbols x 4 parameter sets x 2 folds; dte_min 50 is above the default dte_max 45, so
# those 8 runs are refused by the strategy config check and the other 8 must still finish
GRID = ("target_delta=0.2,0.3", "dte_min=20,50")


class Interrupted(Exception):
    pass


@pytest.fixture(scope="module")
def serial_table(make_spec, tmp_path_factory):
    folder = tmp_path_factory.mktemp("serial")
    return run_sweep(make_spec(grid=GRID), folder).table


def test_dask_sweep_gives_the_serial_table_and_reports_failing_runs(
        make_spec, dask_address, serial_table, sample_market, tmp_path):
    outcome = run_sweep(make_spec(grid=GRID), tmp_path, cluster=dask_address)
    pd.testing.assert_frame_equal(outcome.table, serial_table, check_exact=True)
    table = outcome.table
    assert len(table) == 16 and outcome.executed == 16 and outcome.skipped == 0
    failed = table[table["dte_min"] == 50]
    assert (failed["error"] == "ValueError: dte_min=50 is above dte_max=45").all()
    assert failed["sharpe"].isna().all()
    ok = table[table["dte_min"] == 20]
    assert ok["error"].isna().all()
    assert (ok["sessions"] > 50).all() and ok["final_value"].notna().all()
    # the folds split the window's sessions into two consecutive halves
    spec = make_spec(grid=GRID)
    days = [f"{d:%Y-%m-%d}" for d in sample_market.bars("SPY", spec.start, spec.end).index]
    half = len(days) // 2
    assert sorted(set(zip(ok["fold_start"], ok["fold_end"], strict=True))) == [
        (days[0], days[half - 1]), (days[half], days[-1])]
    assert set(ok.loc[ok["fold"] == 0, "sessions"]) == {half}
    on_disk = pd.read_parquet(tmp_path / "results.parquet")
    pd.testing.assert_frame_equal(on_disk, table, check_exact=True, check_dtype=False)
    assert len(pd.read_csv(tmp_path / "results.csv")) == 16


def test_rerun_after_an_interrupted_sweep_runs_only_the_missing_runs(
        make_spec, dask_address, serial_table, tmp_path):
    spec = make_spec(grid=GRID)
    first = tmp_path / "first"
    first.mkdir()
    seen = []

    def stop_after_five(result):
        seen.append(result["row"]["key"])
        if len(seen) == 5:
            raise Interrupted

    with pytest.raises(Interrupted):
        run_sweep(spec, tmp_path / "sweep", cluster=dask_address, on_result=stop_after_five,
                  task=functools.partial(sweep_tasks.counting, str(first)))
    stored = {p.stem for p in (tmp_path / "sweep" / "runs").glob("*.json")}
    assert stored == set(seen)  # every result handed back was on disk first
    second = tmp_path / "second"
    second.mkdir()
    outcome = run_sweep(spec, tmp_path / "sweep", cluster=dask_address,
                        task=functools.partial(sweep_tasks.counting, str(second)))
    executed = [p.name.split(".")[0] for p in second.iterdir()]
    assert outcome.skipped == 5 and outcome.executed == 11
    assert len(executed) == 11 and not set(executed) & stored
    pd.testing.assert_frame_equal(outcome.table, serial_table, check_exact=True)
    # a third run has nothing left to do
    again = run_sweep(spec, tmp_path / "sweep", cluster=dask_address,
                      task=functools.partial(sweep_tasks.counting, str(second)))
    assert again.executed == 0 and again.skipped == 16 and len(list(second.iterdir())) == 11


def test_a_killed_worker_loses_no_run(make_spec, dask_address, serial_table, tmp_path):
    marker = tmp_path / "killed"
    outcome = run_sweep(make_spec(grid=GRID), tmp_path / "sweep", cluster=dask_address,
                        task=functools.partial(sweep_tasks.kill_once, str(marker), 4))
    assert marker.exists()  # run 4's first attempt did kill its worker process
    pd.testing.assert_frame_equal(outcome.table, serial_table, check_exact=True)
    assert len(ResultsStore(tmp_path / "sweep").finished(outcome.table["key"])) == 16


def test_workers_run_numeric_libraries_on_one_thread(make_spec, dask_address, tmp_path):
    from distributed import Client

    run_sweep(make_spec("equity", symbols=("SPY",), folds=1), tmp_path, cluster=dask_address)

    def threads():
        import os

        import numpy  # noqa: F401 - loads its BLAS
        from threadpoolctl import threadpool_info

        return ({k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")},
                [pool["num_threads"] for pool in threadpool_info()])

    with Client(dask_address) as client:
        # a worker killed by the test before comes back through its nanny: wait for it
        client.wait_for_workers(2, timeout=120)
        answers = client.run(threads)
    assert len(answers) == 2
    for env, pools in answers.values():
        assert set(env.values()) == {"1"}
        assert pools and set(pools) == {1}
