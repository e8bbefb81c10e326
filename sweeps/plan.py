"""What a sweep runs: symbols x parameter sets x walk-forward folds, each run with a stable key.

A run is described by small frozen dataclasses (no frames), so a Dask task ships a few
hundred bytes and the worker reads the bars from the shared on-disk cache itself. The key
of a run is a SHA-256 of everything that decides its result (strategy, symbol, the full
strategy config, fold and its dates, source, seed, signals, cash, costs, and the training
settings of ML signals, and the bars and option chains of a source whose data can change
under its name), so rerunning the same sweep finds the runs already finished and a changed setting or
changed data never reuses a stale one.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.domain import CONTRACT_COMMISSION
from core.errors import DataError
from engine.backtest import check_option_slippage
from feeds.base import MarketSource
from feeds.cache import ParquetCache
from feeds.sources import GENERATED_SOURCES
from strategies.registry import STRATEGIES
from sweeps.grid import Grid

#: bump when a change in this package changes what a stored result means
STORE_VERSION = 1


@dataclass(frozen=True)
class SourceSpec:
    """How a worker opens the market source (it reads bars from the cache itself)."""

    name: str = "sample"
    seed: int = 42
    csv_path: str | None = None
    cache_dir: str | None = None

    def identity(self) -> dict:
        return {"name": self.name, "seed": self.seed, "csv": self.csv_path}


@functools.lru_cache(maxsize=8)
def open_source(spec: SourceSpec) -> MarketSource:
    """The source of ``spec``, opened once per process (its frames and chains stay in
    memory for every later run of the same worker)."""
    from feeds.sources import make_source

    cache = ParquetCache(spec.cache_dir) if spec.cache_dir else ParquetCache()
    return make_source(spec.name, seed=spec.seed, cache=cache, csv_path=spec.csv_path)


@dataclass(frozen=True)
class SweepSpec:
    """One sweep as the command line describes it."""

    strategy: str
    symbols: tuple[str, ...]
    grid: Grid
    start: pd.Timestamp
    end: pd.Timestamp
    folds: int = 1
    source: SourceSpec = SourceSpec()
    signals: str = "rule"
    cash: float = 100_000.0
    commission: float = 0.0005
    option_fill: str = "natural"
    #: ``signals="ml"``: a ``training.pipeline.TrainingSpec``; each fold's model is trained
    #: on the bars before the fold
    training: object | None = None
    #: all symbols in one account per run (``engine.portfolio``) instead of a run per symbol
    portfolio: bool = False
    #: credit spreads: dollars per contract and leg (the options broker's commission)
    commission_per_contract: float = CONTRACT_COMMISSION
    #: credit spreads with mid fills: dollars a share given up on every fill
    option_slippage: float = 0.0


@dataclass(frozen=True)
class TrainJob:
    """Train the ML signal of one symbol on bars up to ``train_end`` into ``model_dir``."""

    source: SourceSpec
    symbol: str
    train_end: pd.Timestamp
    training: object
    model_dir: str


@dataclass(frozen=True)
class RunSpec:
    """One backtest of a sweep: a symbol, a parameter set, a fold."""

    index: int
    key: str
    source: SourceSpec
    strategy: str
    symbol: str
    params: tuple[tuple[str, object], ...]
    fold: int
    folds: int
    start: pd.Timestamp
    end: pd.Timestamp
    signals: str = "rule"
    cash: float = 100_000.0
    commission: float = 0.0005
    option_fill: str = "natural"
    train: TrainJob | None = None
    #: a portfolio run (``symbol`` is then ``PORTFOLIO``): these symbols in one account
    portfolio: tuple[str, ...] = ()
    commission_per_contract: float = CONTRACT_COMMISSION
    option_slippage: float = 0.0


@dataclass(frozen=True)
class Plan:
    runs: tuple[RunSpec, ...]
    param_names: tuple[str, ...]
    folds: tuple[tuple[pd.Timestamp, pd.Timestamp], ...]


def walk_forward_folds(sessions: pd.DatetimeIndex, k: int) -> list[tuple[pd.Timestamp,
                                                                          pd.Timestamp]]:
    """``k`` consecutive test periods covering ``sessions``, as equal in length as can be
    (the first ones one session longer when it does not divide)."""
    if k < 1:
        raise DataError(f"--walk-forward must be 1 or more, got {k}")
    if len(sessions) < 2 * k:
        raise DataError(f"{len(sessions)} sessions cannot make {k} walk-forward folds of at "
                        "least 2 sessions each; widen the window or use fewer folds")
    return [(sessions[c[0]], sessions[c[-1]]) for c in np.array_split(np.arange(len(sessions)), k)]


#: our packages whose code decides a run's result (the command line, ``cli``, does not)
RESULT_PACKAGES = ("analyzers", "brokers", "core", "engine", "feeds", "indicators", "models",
                   "pricing", "strategies", "sweeps", "training")


def code_roots() -> list[Path]:
    """The folders of ``RESULT_PACKAGES`` as this process imports them (a checkout or an
    installed copy alike)."""
    import importlib.util

    roots = []
    for name in RESULT_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError(f"the {name} package of this project is not importable")
        roots.extend(Path(p) for p in spec.submodule_search_locations)
    return roots


@functools.cache
def code_digest() -> str:
    """A SHA-256 of every ``.py`` file under ``code_roots()`` (the code that decides a
    run's result), by relative path and content. A run key holds it, so that a sweep rerun
    after an upgrade or an edit of a strategy runs again instead of giving the old code's
    results; caches and compiled files do not count."""
    digest = hashlib.sha256()
    for root in code_roots():
        for path in sorted(Path(root).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            digest.update(f"{Path(root).name}/{path.relative_to(root).as_posix()}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def run_key(identity: dict) -> str:
    text = json.dumps({"version": STORE_VERSION, "code": code_digest(), **identity},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def plan_sweep(spec: SweepSpec, folder: Path | str) -> Plan:
    """Every run of ``spec`` in table order (symbol, parameter set in grid order, fold).

    The folds split the sessions any symbol has between start and end (their union), so
    every symbol is scored on the same periods; a symbol without bars in a fold gets a
    failed run saying so. ML model folders go under ``folder/models``."""
    if spec.signals == "ml" and spec.training is None:
        raise DataError("--signals ml needs a training spec")
    check_option_slippage(spec.option_fill, spec.option_slippage)
    if spec.portfolio and spec.signals == "ml":
        raise DataError("--portfolio sweeps trade rule signals only (a model per symbol and "
                        "fold is not planned for one account yet); use --signals rule")
    source = open_source(spec.source)
    symbols = [source.check_symbol(s) for s in spec.symbols]
    frames = {s: source.bars(s, None, spec.end) for s in symbols}
    history = {s: frame.index for s, frame in frames.items()}
    seen = _data_digests(spec.source, frames)
    # the option chains a spread run reads, where they can change under the source's name
    chains = ({s: source.chain_digest(s) for s in symbols}
              if STRATEGIES[spec.strategy].trades_options else {})
    union = pd.DatetimeIndex(sorted(set().union(*history.values())))
    sessions = union[(union >= spec.start) & (union <= spec.end)]
    try:
        folds = walk_forward_folds(sessions, spec.folds)
    except DataError as exc:  # say where the data is, when the window misses it
        held = pd.DatetimeIndex(sorted(set().union(*(source.bars(s).index for s in symbols))))
        have = (f"; {source.name} has {', '.join(symbols)} from {held[0]:%Y-%m-%d} to "
                f"{held[-1]:%Y-%m-%d}" if len(held) else "")
        raise DataError(f"{spec.start:%Y-%m-%d}..{spec.end:%Y-%m-%d}: {exc}{have}") from None
    training = _jsonable(spec.training) if spec.training is not None else None
    runs = []
    # a portfolio sweep runs each (parameter set, fold) once, on every symbol in one account
    units = [("PORTFOLIO", tuple(symbols))] if spec.portfolio else [(s, ()) for s in symbols]
    for symbol, portfolio in units:
        for params in spec.grid.parameter_sets():
            # the values, not the config: a combination the config refuses is planned
            # too, and its run's row carries the error
            config = {**asdict(STRATEGIES[spec.strategy].config_cls()), **params}
            for fold, (start, end) in enumerate(folds):
                identity = {
                    "strategy": spec.strategy, "symbol": symbol, "config": config,
                    "fold": fold, "folds": spec.folds, "start": f"{start:%Y-%m-%d}",
                    "end": f"{end:%Y-%m-%d}", "source": spec.source.identity(),
                    "signals": spec.signals, "cash": spec.cash, "commission": spec.commission,
                    "option_fill": spec.option_fill, "training": training}
                if portfolio:  # only then: the keys of per-symbol runs stay as they were
                    identity["portfolio"] = list(portfolio)
                if spec.commission_per_contract != CONTRACT_COMMISSION:  # likewise
                    identity["commission_per_contract"] = spec.commission_per_contract
                if spec.option_slippage:  # likewise
                    identity["option_slippage"] = spec.option_slippage
                if seen is not None:  # the bars up to the fold's end: changed data, new run
                    identity["data"] = [seen(s, end) for s in (portfolio or (symbol,))]
                if any(chains.values()):  # a refreshed chain cache: new runs
                    identity["chains"] = [chains[s] for s in (portfolio or (symbol,))]
                train = None
                if spec.signals == "ml":
                    train = _train_job(spec, symbol, history[symbol], start, training, folder,
                                       seen)
                runs.append(RunSpec(
                    len(runs), run_key(identity), spec.source, spec.strategy, symbol,
                    tuple(params.items()), fold, spec.folds, start, end, spec.signals,
                    spec.cash, spec.commission, spec.option_fill, train, portfolio,
                    spec.commission_per_contract, spec.option_slippage))
    return Plan(tuple(runs), tuple(spec.grid.names), tuple(folds))


def _data_digests(source: SourceSpec, frames: dict[str, pd.DataFrame]):
    """``digest(symbol, end)``: a SHA-256 of ``symbol``'s bars up to ``end`` (None for a
    generated source, whose keys stay as they were)."""
    if source.name in GENERATED_SOURCES:
        return None

    @functools.cache
    def digest(symbol: str, end: pd.Timestamp) -> str:
        bars = frames[symbol]
        bars = bars[bars.index <= end]
        rows = pd.util.hash_pandas_object(bars, index=True).to_numpy()
        return hashlib.sha256(rows.tobytes() + ",".join(bars.columns).encode()).hexdigest()

    return digest


def _train_job(spec: SweepSpec, symbol: str, history: pd.DatetimeIndex, fold_start,
               training: dict, folder, seen=None) -> TrainJob:
    """The model of a fold sees only the sessions before the fold (its last one included
    in the folder name, with a hash of the training settings and, for a source whose data
    can change, of the bars up to it)."""
    before = history[history < fold_start]
    if len(before) == 0:
        raise DataError(f"{symbol}: no history before {fold_start:%Y-%m-%d} to train the "
                        "fold's ML signal on")
    train_end = before[-1]
    identity = {"symbol": symbol, "end": f"{train_end:%Y-%m-%d}", "training": training,
                "source": spec.source.identity()}
    if seen is not None:
        identity["data"] = seen(symbol, train_end)
    digest = run_key(identity)[:12]
    model_dir = Path(folder).resolve() / "models" / f"{symbol}_{train_end:%Y%m%d}_{digest}"
    return TrainJob(spec.source, symbol, train_end, spec.training, str(model_dir))


def _jsonable(value):
    if hasattr(value, "__dataclass_fields__"):
        return {k: _jsonable(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value if value is None or isinstance(value, int | float | str | bool) else str(value)
