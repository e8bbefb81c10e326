"""The model store: ``Trained_Models/<mode>/<SYMBOL>/<YYYY-MM-DD_HH-MM-SS>-<random>/`` and
``latest/``, for any ``models.contract.SignalModel`` (the random suffix makes each run's
folder its own, so two trainings saved in the same second both land).

A model writes and reads its own files (``save(directory)`` / ``load(directory)``); the
store owns what is the same for every model: the folder of a mode and symbol, a new
timestamped folder published and ``latest`` pointed at it atomically (``core.atomic``), the
store's keys in ``metadata.json`` (symbol, mode, saved_at first; the data hash and the
caller's keys such as the source last, around the model's own), resolving ``latest`` or a
timestamp name, and refusing a model whose training window reaches the backtest.

What the folders hold (the models' ``save`` docstrings say more):

* seed 000, ``<mode>`` ``lstm_poc`` (or the run's label): ``model.keras`` (an LSTM head's
  network), ``lstm_scaler.pkl`` (the scaler fitted on training rows only),
  ``hmm_model.pkl`` (the regime classifier), ``strategy_model.pkl`` (the pipeline around
  them, without the network), ``metadata.json`` (training window, features, configs,
  sample counts, library versions, data hash);
* seed 003, ``<mode>`` ``direction``: ``direction_model.pkl``, ``lstm.keras`` /
  ``gru.keras`` / ``tcn.keras`` for the sequence members, and ``metadata.json`` (training
  window, features, config, walk-forward evaluation, XGBoost importance, library versions,
  data hash).

``load_hmm_model(dir)`` and ``load_lstm_model(dir, return_lstm_instance=True)`` are seed
000's loaders; ``load_strategy_model(dir)`` gives its whole pipeline back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import pickle
from importlib.metadata import version
from pathlib import Path

import pandas as pd

from core.atomic import publish_folder
from core.errors import DataError

DEFAULT_ROOT = Path("Trained_Models")
METADATA_FILE = "metadata.json"
LIBRARIES = ("tensorflow-cpu", "keras", "hmmlearn", "scikit-learn", "numpy", "pandas")
#: what a missing seed-000 folder's error suggests
TRAIN_HINT = "train one with `python run.py train --symbol SYMBOL --save`"


def data_hash(bars: pd.DataFrame) -> str:
    """SHA-256 of the training bars (index and values), to tell data sets apart."""
    digest = hashlib.sha256(bars.index.asi8.tobytes())
    digest.update(bars.to_numpy(dtype=float).tobytes())
    return digest.hexdigest()


def library_versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Installed versions of the model libraries (and of ``extra`` distributions)."""
    out = {}
    for name in LIBRARIES + tuple(extra):
        try:
            out[name] = version(name)
        except Exception:  # noqa: BLE001 - a missing distribution is simply not recorded
            continue
    return out


# ---------------------------------------------------------------------- folders and files
def model_dir(mode: str, symbol: str, root: Path | str = DEFAULT_ROOT) -> Path:
    """The store folder of one mode's models of one symbol."""
    return Path(root) / mode / symbol.upper()


def require_files(model_dir: Path | str, needs: tuple[str, ...],
                  hint: str = TRAIN_HINT) -> Path:
    """The folder, if it exists and holds ``needs``; DataError naming what lacks."""
    folder = Path(model_dir)
    if not folder.is_dir():
        raise DataError(f"no model folder at {folder} ({_for_store_folder(hint, folder)})"
                        f"{stored_beside(folder)}")
    missing = [f for f in needs if not (folder / f).exists()]
    if missing:
        raise DataError(f"model folder {folder} lacks {', '.join(missing)}"
                        f"{_what_it_holds(folder, needs)}")
    return folder


#: the file that tells each kind of stored model, and how messages name it
KIND_FILES = {"strategy_model.pkl": "a seed-000 strategy model (--signals ml reads it)",
              "direction_model.pkl": "a Direction model (--signals direction reads it)"}


def _what_it_holds(folder: Path, needs: tuple[str, ...]) -> str:
    """': it is ...' when a folder lacking a model's files is a symbol's store folder (the
    one holding the timestamp folders and ``latest``) or holds the other kind of model,
    else ''."""
    if (folder / "latest").is_dir():
        return (f": it is a symbol's store folder; name one of its model folders, e.g. "
                f"{folder / 'latest'}")
    for name, kind in KIND_FILES.items():
        if name not in needs and (folder / name).exists():
            return f": it holds {kind}"
    return ""


def stored_beside(folder: Path) -> str:
    """'; <store> holds ...' naming the newest model folders beside a missing store folder
    (the name to type instead), or '' when there are none; for ``latest`` left pointing
    at a folder deleted by hand, where it points first."""
    if not folder.parent.is_dir():
        return ""
    gone = ""
    if folder.is_symlink():
        gone = f"; latest points at {os.readlink(folder)}, which is gone (deleted?)"
    elif folder.name == "latest":
        return ""
    names = sorted((p.name for p in folder.parent.iterdir()
                    if p.is_dir() and p.name[:1].isdigit()), reverse=True)
    if not names:
        return gone
    more = f" and {len(names) - 5} older" if len(names) > 5 else ""
    return f"{gone}; {folder.parent} holds {', '.join(names[:5])}{more}"


def _for_store_folder(hint: str, folder: Path) -> str:
    """``hint`` with SYMBOL (and the store label) of a store folder ``<mode>/<SYMBOL>/latest``
    or ``.../<timestamp>`` filled in, so the command it suggests can be run as printed."""
    if folder.name != "latest" and not folder.name[:1].isdigit():
        return hint
    label = folder.parent.parent.name
    command = f"--symbol {folder.parent.name} --save"
    if label and label != "lstm_poc":
        command += f" --store-label {label}"
    root = folder.parent.parent.parent
    if root != DEFAULT_ROOT:
        command += f" --models-dir {root}"
    return hint.replace("--symbol SYMBOL --save", command)


#: what an unreadable stored file's error suggests
CORRUPT_HINT = ("the file is truncated or corrupt (an interrupted copy?): train and save the "
                "model again, or delete its folder")


def corrupt_file_error(path: Path, exc: BaseException) -> DataError:
    """The DataError for a stored file that cannot be read back, naming the file."""
    reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    return DataError(f"{path}: cannot be read ({reason}); {CORRUPT_HINT}")


def read_metadata(model_dir: Path | str) -> dict:
    folder = require_files(model_dir, (METADATA_FILE,))
    path = folder / METADATA_FILE
    try:
        metadata = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise corrupt_file_error(path, exc) from None
    if not isinstance(metadata, dict):
        raise corrupt_file_error(path, ValueError("not a JSON object"))
    return metadata


def write_metadata(folder: Path, metadata: dict) -> None:
    (folder / METADATA_FILE).write_text(json.dumps(metadata, indent=2, default=str))


def described_training(start: pd.Timestamp, end: pd.Timestamp, features, groups) -> dict:
    """The keys every model's metadata.json opens with: training window and features."""
    return {"training_window": {"start": f"{start:%Y-%m-%d}", "end": f"{end:%Y-%m-%d}"},
            "features": list(features), "feature_groups": list(groups)}


def check_features(folder: Path, metadata: dict, features) -> None:
    """Refuse a folder whose metadata.json lists other features than its model has."""
    if metadata.get("features") != list(features):
        raise DataError(f"{folder}: metadata lists the features "
                        f"{', '.join(metadata.get('features') or [])} but the model "
                        f"was trained on {', '.join(features)}")


def pickle_to(obj, path: Path) -> None:
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)


def unpickle(path: Path):
    """The object pickled in ``path``; a truncated or foreign file is a DataError naming it
    (unpickling garbage raises almost any exception type, so all are caught)."""
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh)
    except Exception as exc:  # noqa: BLE001 - EOFError, UnpicklingError, ValueError, ...
        raise corrupt_file_error(path, exc) from None


def check_archives(folder: Path) -> None:
    """Refuse a folder whose ``*.keras`` files (zip archives) are truncated or not
    archives, naming the file, before keras fails on it with a bare traceback."""
    import zipfile

    for path in sorted(folder.glob("*.keras")):
        try:
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
        except (OSError, zipfile.BadZipFile) as exc:
            raise corrupt_file_error(path, exc) from None
        if bad is not None:
            raise corrupt_file_error(path, ValueError(f"member {bad} is damaged"))


def jsonable(value):
    """Tuples as lists, recursively (what ``json`` would write them as)."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [jsonable(v) for v in value]
    return value


# ---------------------------------------------------------------------- saving and loading
def save_model(model, mode: str, symbol: str, root: Path | str = DEFAULT_ROOT,
               metadata: dict | None = None, training_bars: pd.DataFrame | None = None,
               stamp: dt.datetime | None = None) -> Path:
    """Save a fitted model (``model.save``) to a new timestamped folder of ``mode`` and
    ``symbol`` and refresh ``latest/``; returns the timestamped folder. ``metadata`` adds
    keys (the source, say) to metadata.json. The folder is named by the machine's clock
    (what the user reads beside ``ls``); ``saved_at`` is the instant, in UTC with its
    offset, so that stores copied between machines and across DST changes still order."""
    stamp = (stamp or dt.datetime.now()).astimezone()  # a naive stamp is the machine's clock

    def write(folder: Path) -> None:
        model.save(folder)
        write_metadata(folder, {
            "symbol": symbol.upper(), "mode": mode,
            "saved_at": stamp.astimezone(dt.UTC).isoformat(),
            **json.loads((folder / METADATA_FILE).read_text()),
            "data_hash": data_hash(training_bars) if training_bars is not None else None,
            **(metadata or {}),
        })

    return publish_folder(model_dir(mode, symbol, root), write, stamp)


def saved_instant(saved_at: object) -> float:
    """``metadata.json``'s ``saved_at`` as POSIX seconds, for ordering folders: an offset
    is honoured, a stamp without one (stores before offsets were written) is read as the
    machine's clock; missing or unreadable is 0 (oldest)."""
    try:
        return dt.datetime.fromisoformat(str(saved_at)).timestamp()
    except (TypeError, ValueError, OverflowError):
        return 0.0


def resolve_model_dir(spec: str, root: Path | str = DEFAULT_ROOT, mode: str = "lstm_poc",
                      symbol: str = "SPY") -> Path:
    """``latest`` (or a timestamp folder name) under the store, or a path. A bare name
    that is neither a store folder nor a path here (a timestamp typed without its random
    suffix) is the store folder, so that the error names where it was looked for."""
    candidate = model_dir(mode, symbol, root) / spec
    if spec == "latest" or candidate.is_dir():
        return candidate
    path = Path(spec)
    if not path.exists() and len(path.parts) == 1 and not path.is_absolute():
        return candidate
    return path


def load_model(model_class, spec: Path | str, mode: str, symbol: str | None = None,
               root: Path | str = DEFAULT_ROOT):
    """``model_class.load`` of a folder path, or, with ``symbol``, of ``latest`` or a
    timestamp folder name under ``root/<mode>/<SYMBOL>/``. DataError if absent."""
    folder = Path(spec) if symbol is None else resolve_model_dir(str(spec), root, mode, symbol)
    if not folder.is_dir():
        where = f" for {symbol.upper()}" if symbol else ""
        raise DataError(f"no {mode} model folder at {folder}{where} (train and save one "
                        "first)")
    return load_folder(model_class, folder)


def load_folder(model_class, folder: Path | str):
    """``model_class.load(folder)``, with a truncated or corrupt file refused as a
    DataError naming it (the metadata and the ``.keras`` archives checked first, the
    pickles by ``unpickle``); any other failure to load is a DataError naming the folder."""
    folder = Path(folder)
    if (folder / METADATA_FILE).exists():
        read_metadata(folder)
    check_archives(folder)
    try:
        return model_class.load(folder)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - keras and pickle fail in many ways
        raise DataError(f"{folder}: the stored model cannot be loaded ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0][:200] if str(exc) else ''}); "
                        f"{CORRUPT_HINT}") from None


def other_symbol(metadata: dict, symbol: str) -> str | None:
    """The symbol a stored model was trained on when it is not ``symbol`` (a folder copied
    in), else None; a folder that records none is taken as it is."""
    trained = metadata.get("symbol")
    return str(trained) if trained and str(trained).upper() != symbol.upper() else None


def check_trained_for(metadata: dict, symbol: str, where: str) -> None:
    """Refuse a model trained on another symbol than the one it would score (the store
    records the symbol in metadata.json); a folder without one is taken as it is."""
    trained = other_symbol(metadata, symbol)
    if trained:
        wanted = symbol.upper()
        make = (f"python run.py premarket --symbols {wanted}"  # the store's Direction models
                if metadata.get("mode") == "direction" else
                f"python run.py train --symbol {wanted} --save")
        raise DataError(f"the model in {where} was trained on {trained}, not {wanted}: "
                        f"use a model of {wanted} (make one with `{make}`)")


def source_note(metadata: dict, source_name: str, where: str,
                seed: int | None = None) -> str | None:
    """A warning when the model was trained on another source than the run reads (a model
    of the sample market scoring real bars means little), or on a simulated market of
    another seed (another market under the same name); None when they agree or the
    metadata does not say."""
    trained = metadata.get("source")
    if trained and trained != source_name:
        return (f"the model in {where} was trained on {trained} data; this run reads "
                f"{source_name}")
    trained_seed = metadata.get("seed")
    if trained and seed is not None and trained_seed is not None and trained_seed != seed:
        return (f"the model in {where} was trained on {trained} data of seed {trained_seed}; "
                f"this run reads seed {seed}, another simulated market (--seed "
                f"{trained_seed} reads the one it learned)")
    return None


def label_note(metadata: dict, version: str, what_changed: str, where: str,
               symbol: str) -> str | None:
    """A warning when a strategy model learned its expected returns from labels of an older
    definition than today's ``version`` (its metadata.json has an older ``label_version``,
    or none though ``train --save`` wrote it: saved before the version was recorded); None
    when they agree or the metadata says nothing of its training (a folder of other
    origin)."""
    if not metadata.get("source"):
        return None
    learned = metadata.get("label_version")
    if learned is not None and str(learned) == str(version):
        return None
    older = (f"labels of version {learned}" if learned is not None else
             f"labels older than version {version}")
    return (f"the model in {where} learned its expected returns from {older} "
            f"({what_changed}): retrain it on today's labels "
            f"(`python run.py train --symbol {symbol.upper()} --save`)")


def check_training_window(metadata: dict, first_scored: pd.Timestamp, where: str) -> None:
    """Refuse a model whose training data reaches the first bar it would score, and one
    whose metadata.json does not say (a damaged file: whether it saw the window is
    unknown, so it cannot be trusted with it)."""
    try:
        end = pd.Timestamp(metadata["training_window"]["end"])
    except (KeyError, TypeError, ValueError):
        raise DataError(f"the metadata.json in {where} does not say when the model's "
                        f"training data ends (training_window.end); {CORRUPT_HINT}") from None
    if end >= pd.Timestamp(first_scored):
        raise DataError(f"the model in {where} was trained on data up to {end:%Y-%m-%d}, "
                        f"which overlaps the backtest starting {first_scored:%Y-%m-%d}: "
                        "that would score bars the model has seen. Use a model trained "
                        "before the start, or let the run train one (omit --model)")


# ---------------------------------------------------------------------- seed 000's names
def save_models(model, root: Path | str = DEFAULT_ROOT, mode: str = "lstm_poc",
                symbol: str = "SPY", metadata: dict | None = None,
                training_bars: pd.DataFrame | None = None,
                stamp: dt.datetime | None = None) -> Path:
    """Seed 000's name: ``save_model`` of a ``StrategyModel``."""
    return save_model(model, mode, symbol, root, metadata, training_bars, stamp)


def load_strategy_model(model_dir: Path | str):
    """The whole fitted ``StrategyModel`` (pipeline, scaler, HMM and LSTM network)."""
    from models.strategy_model import StrategyModel

    return load_folder(StrategyModel, model_dir)


def load_hmm_model(model_dir: Path | str):
    """The fitted ``MarketStateClassifier`` of a store folder."""
    from models.regimes import MarketStateClassifier

    return load_folder(MarketStateClassifier, model_dir)


def load_lstm_model(model_dir: Path | str, return_lstm_instance: bool = True):
    """Seed 000's loader: ``(LSTMModel, scaler)`` with ``return_lstm_instance``, else the
    bare keras model and the scaler."""
    model = load_strategy_model(model_dir)
    if return_lstm_instance:
        return model.lstm_, model.scaler_
    return model.lstm_.model_, model.scaler_
