"""The model store of seed 000: ``Trained_Models/<mode>/<SYMBOL>/<timestamp>/`` and ``latest/``.

Each folder holds ``model.keras`` (the LSTM network), ``lstm_scaler.pkl`` (the scaler fitted
on training rows only), ``hmm_model.pkl`` (the regime classifier), ``strategy_model.pkl``
(the pipeline around them, without the network) and ``metadata.json``: training window,
features, configs, metrics, library versions and a hash of the training data. ``latest/``
is a copy of the newest run, replaced atomically (written beside it, then renamed).

``load_hmm_model(dir)`` and ``load_lstm_model(dir, return_lstm_instance=True)`` are the
seed's loaders; ``load_strategy_model(dir)`` gives the whole pipeline back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import pickle
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path

import pandas as pd

from core.atomic import publish_folder
from core.errors import DataError

DEFAULT_ROOT = Path("Trained_Models")
FILES = ("model.keras", "lstm_scaler.pkl", "hmm_model.pkl", "strategy_model.pkl",
         "metadata.json")
LIBRARIES = ("tensorflow-cpu", "keras", "hmmlearn", "scikit-learn", "numpy", "pandas")


def data_hash(bars: pd.DataFrame) -> str:
    """SHA-256 of the training bars (index and values), to tell data sets apart."""
    digest = hashlib.sha256(bars.index.asi8.tobytes())
    digest.update(bars.to_numpy(dtype=float).tobytes())
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = version(name)
        except Exception:  # noqa: BLE001 - a missing distribution is simply not recorded
            continue
    return out


def save_models(model, root: Path | str = DEFAULT_ROOT, mode: str = "lstm_poc",
                symbol: str = "SPY", metadata: dict | None = None,
                training_bars: pd.DataFrame | None = None,
                stamp: dt.datetime | None = None) -> Path:
    """Save a fitted ``StrategyModel`` to a new timestamped folder and refresh ``latest/``.
    Returns the timestamped folder."""
    model._check_fitted()
    stamp = stamp or dt.datetime.now()

    def write(tmp: Path) -> None:
        model.lstm_.model_.save(tmp / "model.keras")
        _pickle(model.scaler_, tmp / "lstm_scaler.pkl")
        _pickle(model.hmm_, tmp / "hmm_model.pkl")
        _pickle(model, tmp / "strategy_model.pkl")
        report = model.report_
        meta = {
            "symbol": symbol.upper(), "mode": mode, "saved_at": stamp.isoformat(),
            "training_window": {"start": f"{report.train_start:%Y-%m-%d}",
                                "end": f"{report.train_end:%Y-%m-%d}"},
            "features": list(model.feature_names_), "feature_groups": list(model.groups_),
            "lstm_config": _jsonable(asdict(model.lstm_config)),
            "hmm_config": _jsonable(asdict(model.hmm_config)),
            "hmm_features": list(model.hmm_.features_),
            "regime_names": list(model.hmm_.state_names_),
            "samples": {"train": report.n_train, "validation": report.n_validation,
                        "purged": report.n_purged, "class_counts": report.class_counts},
            "libraries": library_versions(),
            "data_hash": data_hash(training_bars) if training_bars is not None else None,
            **(metadata or {}),
        }
        (tmp / "metadata.json").write_text(json.dumps(meta, indent=2, default=str))

    return publish_folder(Path(root) / mode / symbol.upper(), write, stamp)


def _pickle(obj, path: Path) -> None:
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value


def _check_dir(model_dir: Path | str, needs: tuple[str, ...]) -> Path:
    folder = Path(model_dir)
    if not folder.is_dir():
        raise DataError(f"no model folder at {folder} (train one with "
                        "`python run.py train --symbol SYMBOL --save`)")
    missing = [f for f in needs if not (folder / f).exists()]
    if missing:
        raise DataError(f"model folder {folder} lacks {', '.join(missing)}")
    return folder


def read_metadata(model_dir: Path | str) -> dict:
    folder = _check_dir(model_dir, ("metadata.json",))
    return json.loads((folder / "metadata.json").read_text())


def load_hmm_model(model_dir: Path | str):
    """The fitted ``MarketStateClassifier`` of a store folder."""
    folder = _check_dir(model_dir, ("hmm_model.pkl",))
    with open(folder / "hmm_model.pkl", "rb") as fh:
        return pickle.load(fh)


def load_strategy_model(model_dir: Path | str):
    """The whole fitted ``StrategyModel`` (pipeline, scaler, HMM and LSTM network)."""
    import keras

    folder = _check_dir(model_dir, FILES)
    with open(folder / "strategy_model.pkl", "rb") as fh:
        model = pickle.load(fh)
    model.lstm_.model_ = keras.models.load_model(folder / "model.keras")
    model.lstm_._infer = None
    model.metadata_ = read_metadata(folder)
    if list(model.feature_names_) != model.metadata_["features"]:
        raise DataError(f"{folder}: metadata and model disagree on the features")
    return model


def load_lstm_model(model_dir: Path | str, return_lstm_instance: bool = True):
    """Seed 000's loader: ``(LSTMModel, scaler)`` with ``return_lstm_instance``, else the
    bare keras model and the scaler."""
    model = load_strategy_model(model_dir)
    if return_lstm_instance:
        return model.lstm_, model.scaler_
    return model.lstm_.model_, model.scaler_


def resolve_model_dir(spec: str, root: Path | str = DEFAULT_ROOT, mode: str = "lstm_poc",
                      symbol: str = "SPY") -> Path:
    """``latest`` (or a timestamp folder name) under the store, or a path."""
    candidate = Path(root) / mode / symbol.upper() / spec
    if spec == "latest" or candidate.is_dir():
        return candidate
    return Path(spec)


def check_training_window(metadata: dict, first_scored: pd.Timestamp, where: str) -> None:
    """Refuse a model whose training data reaches the first bar it would score."""
    end = pd.Timestamp(metadata["training_window"]["end"])
    if end >= pd.Timestamp(first_scored):
        raise DataError(f"the model in {where} was trained on data up to {end:%Y-%m-%d}, "
                        f"which overlaps the backtest starting {first_scored:%Y-%m-%d}: "
                        "that would score bars the model has seen. Use a model trained "
                        "before the start, or let the run train one (omit --model)")
