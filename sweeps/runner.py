"""Running a sweep: the task of one run, and the loop that runs them serially or on Dask.

``run_one`` is the whole task: it opens the source from the shared cache, builds the
strategy config from the run's parameters, runs ``backtest.run_symbol`` and returns the row
and the daily returns. A failure inside it (a parameter the strategy refuses, too little
data) comes back as a row with its ``error``, so one bad run never stops the others.

``run_sweep`` runs the planned runs that the store does not have yet: in this process when
``cluster`` is None, else as Dask tasks on a ``LocalCluster`` of worker processes
(``"local"``) or on a running scheduler (``"tcp://host:8786"``). It writes every result
the moment it arrives, so a killed sweep loses only the runs in flight. A worker process
that dies is the scheduler's business: it reruns that worker's tasks elsewhere (up to
``distributed.scheduler.allowed-failures`` times), so the table is still complete.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sweeps.plan import Plan, RunSpec, SweepSpec, TrainJob, open_source, plan_sweep
from sweeps.store import ResultsStore, results_table, write_table

log = logging.getLogger(__name__)

#: one thread per worker for every numeric library, so N workers on N cores do not fight
THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "VECLIB_MAXIMUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1",
              "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}


@dataclass
class SweepOutcome:
    """The table of every planned run, and what this call did."""

    table: pd.DataFrame
    plan: Plan
    executed: int
    skipped: int
    results: dict


def run_one(run: RunSpec, training: dict | None = None) -> dict:
    """Backtest one (symbol, parameter set, fold), or with ``run.portfolio`` all symbols in
    one account; never raises for the run's own failure.

    ``training`` is the result of ``train_fold_model`` for ML signals."""
    row = describe(run)
    try:
        result = _backtest(run, training)
    except Exception as exc:  # noqa: BLE001 - any failure of a run is that run's row
        log.debug("run %s failed", run.key, exc_info=True)
        return {"row": {**row, "error": f"{type(exc).__name__}: {exc}"}, "returns": None}
    metrics = dict(result.metrics)
    metrics.pop("start", None)
    metrics.pop("end", None)
    for name, value in metrics.pop("backtrader", {}).items():
        metrics[f"bt_{name}"] = value
    returns = result.returns
    # what the backtest warned of (a late start, an idle run, a CSV off the calendar), so a
    # sweep's row is read as its backtest's summary would be
    warned = " | ".join(getattr(result, "warnings", ())) or None
    return {"row": {**row, **metrics, "warnings": warned, "error": None},
            "returns": {"dates": [f"{d:%Y-%m-%d}" for d in returns.index],
                        "values": [float(v) for v in returns.to_numpy()]}}


def describe(run: RunSpec) -> dict:
    """The identifying columns of a run's row."""
    params = {name: "+".join(map(str, value)) if isinstance(value, tuple) else value
              for name, value in run.params}
    return {"key": run.key, "strategy": run.strategy, "signals": run.signals,
            "symbol": run.symbol, **params, "fold": run.fold,
            "fold_start": f"{run.start:%Y-%m-%d}", "fold_end": f"{run.end:%Y-%m-%d}"}


def _backtest(run: RunSpec, training: dict | None):
    from engine.backtest import BacktestSettings, run_symbol
    from sweeps.grid import make_config

    config = make_config(run.strategy, dict(run.params))
    models = {}
    if run.signals == "ml":
        if training is None or training.get("error"):
            raise RuntimeError("training the fold's ML signal failed: "
                               f"{(training or {}).get('error', 'no model')}")
        models = {run.symbol: _load_model(training["model_dir"])}
    settings = BacktestSettings(
        start=run.start, end=run.end, strategy=run.strategy, signals=run.signals,
        cash=run.cash, commission=run.commission, option_fill=run.option_fill,
        commission_per_contract=run.commission_per_contract,
        option_slippage=run.option_slippage,
        record_lines=False, progress=False, signal_models=models, config=config)
    if run.portfolio:
        from engine.portfolio import run_portfolio

        return run_portfolio(open_source(run.source), list(run.portfolio), settings)
    return run_symbol(open_source(run.source), run.symbol, settings)


@functools.lru_cache(maxsize=4)
def _load_model(model_dir: str):
    from models.store import load_strategy_model

    return load_strategy_model(model_dir)


def train_fold_model(job: TrainJob) -> dict:
    """Train (or find already trained) the ML signal of one fold; never raises."""
    folder = Path(job.model_dir)
    if (folder / "metadata.json").exists():
        return {"model_dir": str(folder), "error": None}
    try:
        from models.store import save_models
        from training.pipeline import train_strategy_model

        model = train_strategy_model(open_source(job.source), job.symbol, job.train_end,
                                     job.training)
        staging = folder.parent / f".{folder.name}.{uuid.uuid4().hex}"
        saved = save_models(model, root=staging, mode="sweep", symbol=job.symbol)
        try:
            os.replace(saved, folder)
        except OSError:  # another attempt finished first: keep its model
            if not (folder / "metadata.json").exists():
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    except Exception as exc:  # noqa: BLE001 - reported in the rows of the fold's runs
        log.debug("training %s failed", folder, exc_info=True)
        return {"model_dir": str(folder), "error": f"{type(exc).__name__}: {exc}"}
    return {"model_dir": str(folder), "error": None}


def limit_threads() -> None:
    """Cap BLAS/OpenMP (numpy, scikit-learn, XGBoost) and TensorFlow at one thread in this
    process: environment for libraries not loaded yet, threadpoolctl for those that are."""
    os.environ.update(THREAD_ENV)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    if "tensorflow" in sys.modules:
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(1)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # already initialized: the environment above came too late
            log.warning("TensorFlow was initialized before the thread limits")


def _thread_plugin():
    from distributed import WorkerPlugin

    class ThreadLimits(WorkerPlugin):
        """Runs ``limit_threads`` on every worker, also on a cluster we did not start."""

        name = "btml-thread-limits"

        def setup(self, worker):
            limit_threads()

    return ThreadLimits()


def run_sweep(spec: SweepSpec, folder: Path | str, *, cluster: str | None = None,
              workers: int = 2, task: Callable = run_one, progress: bool = False,
              on_result: Callable[[dict], None] | None = None) -> SweepOutcome:
    """Run what is left of ``spec`` into ``folder`` and return the full table.

    ``cluster``: None (this process, one run after another), ``"local"`` (a LocalCluster
    of ``workers`` processes with one thread each, on 127.0.0.1) or a scheduler address.
    ``task(run, training)`` is ``run_one`` unless a caller wraps it. ``on_result`` sees
    each stored result (an exception from it stops the sweep; what is stored stays)."""
    folder = Path(folder)
    plan = plan_sweep(spec, folder)
    store = ResultsStore(folder)
    done = store.finished(r.key for r in plan.runs)
    todo = [r for r in plan.runs if r.key not in done]
    results: dict[str, dict] = {}

    def finish(result: dict) -> None:
        store.save(result)
        results[result["row"]["key"]] = result
        bar.update(1)
        if on_result is not None:
            on_result(result)

    from tqdm import tqdm

    with tqdm(total=len(todo), desc="runs", unit="run", disable=not progress) as bar:
        if cluster is None:
            _run_serial(todo, task, finish)
        else:
            lost = _run_dask(todo, task, finish, cluster, workers)
            results.update(lost)
    for run in plan.runs:
        if run.key not in results:
            results[run.key] = store.load(run.key)
    table = results_table([results[r.key]["row"] for r in plan.runs], plan.param_names)
    write_table(table, folder)
    return SweepOutcome(table, plan, len(todo), len(done), results)


def _run_serial(todo: list[RunSpec], task: Callable, finish: Callable) -> None:
    trained: dict[str, dict] = {}
    for run in todo:
        training = None
        if run.train is not None:
            if run.train.model_dir not in trained:
                trained[run.train.model_dir] = train_fold_model(run.train)
            training = trained[run.train.model_dir]
        finish(task(run, training))


def _run_dask(todo: list[RunSpec], task: Callable, finish: Callable, cluster: str,
              workers: int) -> dict:
    """Submit every run (after its fold's training task, for ML signals) and store each
    result as it completes. Returns error results of runs whose task itself failed (a
    worker killed too often): reported in the table, not stored, so a rerun retries them."""
    from distributed import Client, LocalCluster, as_completed

    token = uuid.uuid4().hex[:8]
    lost: dict[str, dict] = {}
    local = None
    distributed_log = logging.getLogger("distributed")
    level = distributed_log.level
    if cluster == "local":
        # the scheduler lives in this process and logs every worker's start and stop
        distributed_log.setLevel(logging.ERROR)
        # no dashboard (bokeh is not installed); its HTTP server on a free local port
        local = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                             host="127.0.0.1", dashboard_address="127.0.0.1:0",
                             scheduler_kwargs={"dashboard": False},
                             silence_logs=logging.ERROR, env=THREAD_ENV)
    try:
        with Client(local if local is not None else cluster) as client:
            client.register_plugin(_thread_plugin())
            trainings = {}
            for job in {r.train.model_dir: r.train for r in todo if r.train}.values():
                trainings[job.model_dir] = client.submit(
                    train_fold_model, job, key=f"btml-train-{Path(job.model_dir).name}-{token}")
            futures, runs = [], {}
            for run in todo:
                training = trainings.get(run.train.model_dir) if run.train else None
                future = client.submit(task, run, training,
                                       key=f"btml-run-{run.index}-{run.key[:12]}-{token}")
                futures.append(future)
                runs[future.key] = run
            for future in as_completed(futures):
                run = runs[future.key]
                try:
                    result = future.result()
                except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker after retries
                    lost[run.key] = {"row": {**describe(run),
                                             "error": f"{type(exc).__name__}: {exc}"},
                                     "returns": None}
                    continue
                finish(result)
    finally:
        if local is not None:
            local.close()
        distributed_log.setLevel(level)
    return lost
