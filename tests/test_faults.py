"""Fault injection for what runs keep on disk (the data cache, the model store): truncated
files, garbage, a file of the wrong type, a read-only folder, a writer killed with SIGKILL
mid-write, two writers at once. Whatever happens, a reader finds the old version or the
new one, never a torn one, a damaged file is named or rebuilt, and nothing saved is lost."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from core.atomic import publish_folder, replace_folder, sweep_partials
from core.errors import DataError
from feeds.cache import ParquetCache
from models import store

ROOT = Path(__file__).resolve().parents[1]
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def frame(value: float, rows: int = 2000) -> pd.DataFrame:
    return pd.DataFrame({"close": [value] * rows, "volume": list(range(rows))})


# ------------------------------------------------------------------ the data cache
@pytest.mark.parametrize("damage", [
    lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),  # truncated
    lambda p: p.write_bytes(b"\x00garbage" * 100),  # garbage
    lambda p: p.write_text("date,close\n2024-01-02,1\n"),  # a CSV under a .parquet name
])
def test_a_damaged_cache_file_is_rebuilt_not_a_crash(tmp_path, damage, caplog):
    cache = ParquetCache(tmp_path)
    path = cache.save(("sample", "SPY"), frame(1.0))
    damage(path)
    assert cache.load(("sample", "SPY")) is None  # reported and removed
    assert "unreadable" in caplog.text and not path.exists()
    rebuilt = cache.load_or_build(("sample", "SPY"), lambda: frame(2.0))
    assert rebuilt.equals(frame(2.0)) and cache.load(("sample", "SPY")).equals(frame(2.0))


def test_a_folder_where_a_cache_file_belongs_is_named_not_lost(tmp_path):
    """A folder under the cache file's name (wrong file type): a DataError naming it on
    load and save, never deleted or replaced."""
    cache = ParquetCache(tmp_path)
    path = cache.path_for(("sample", "SPY"))
    path.mkdir(parents=True)
    (path / "keep.txt").write_text("mine")
    for use in (lambda: cache.load(("sample", "SPY")),
                lambda: cache.save(("sample", "SPY"), frame(1.0))):
        with pytest.raises(DataError, match=f"cache entry {path} is not a file"):
            use()
    assert (path / "keep.txt").read_text() == "mine"


@pytest.mark.skipif(AS_ROOT, reason="root writes into read-only folders")
def test_a_read_only_cache_folder_is_refused_up_front(tmp_path):
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(DataError, match="is not writable"):
            ParquetCache(tmp_path)
    finally:
        tmp_path.chmod(0o755)


WRITER = """
import sys
import pandas as pd
from feeds.cache import ParquetCache
cache = ParquetCache(sys.argv[1])
frames = [pd.DataFrame({"close": [float(v)] * 20000, "volume": range(20000)}) for v in (1, 2)]
for i in range(10**9):
    cache.save(("sample", "SPY"), frames[i % 2])
    print(i, flush=True)
"""


def writer(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})


def kill_after(process: subprocess.Popen, saves: int) -> None:
    """SIGKILL ``process`` once it reported ``saves`` finished saves (it is writing the
    next one then): reading its output is the clock, no sleeping."""
    for _ in range(saves):
        assert process.stdout.readline(), process.stderr.read()
    process.send_signal(signal.SIGKILL)
    process.wait()


@pytest.mark.parametrize("saves", [1, 4])
def test_a_cache_writer_killed_mid_write_leaves_the_old_or_the_new_file(tmp_path, saves):
    process = writer(WRITER, str(tmp_path))
    kill_after(process, saves)
    loaded = ParquetCache(tmp_path).load(("sample", "SPY"))
    assert loaded is not None  # a finished save is never lost
    assert loaded["close"].nunique() == 1 and len(loaded) == 20000
    assert loaded["close"].iloc[0] in (1.0, 2.0)


def test_a_cache_file_reaches_the_disk_before_its_name_and_its_name_after(tmp_path,
                                                                         monkeypatch):
    """A power cut right after a save must not leave the new name on an empty file: the
    file's bytes are synced before the rename, and the folder (which holds the rename)
    after it. Recorded at the system calls, the only place a power cut can be seen from."""
    from core import atomic

    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", str(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    monkeypatch.setattr(atomic.os, "replace", replace)
    target = tmp_path / "piece.bin"
    atomic.atomic_write_bytes(target, b"twelve bytes")
    assert target.read_bytes() == b"twelve bytes"
    kinds = [kind for kind, _ in events]
    assert kinds == ["fsync", "replace", "fsync"]
    synced_file, _, synced_folder = (name for _, name in events)
    assert Path(synced_file).parent == tmp_path and synced_file != str(target)  # the temp
    assert Path(synced_folder) == tmp_path


# ------------------------------------------------------------------ report folders
@pytest.mark.parametrize("fails", [False, True])
def test_a_report_killed_between_its_two_renames_is_put_back_first(tmp_path, fails):
    """``replace_folder`` moves the old report aside, then the new one in: a kill between
    the two leaves no report but ``.report.old-*``; the next rewrite restores it before
    anything else, so a failing rewrite still leaves the old report, never none."""
    folder = tmp_path / "report"
    (tmp_path / ".report.old-abc").mkdir()
    (tmp_path / ".report.old-abc" / "index.html").write_text("old")
    (tmp_path / ".report.old-abc" / "metrics.json").write_text("{}")
    (tmp_path / ".report.partial-abc").mkdir()  # the new one, never renamed

    def write(tmp):
        (tmp / "index.html").write_text("new")
        if fails:
            raise KeyboardInterrupt

    if fails:
        with pytest.raises(KeyboardInterrupt):
            replace_folder(folder, write)
    else:
        replace_folder(folder, write)
    assert (folder / "index.html").read_text() == ("old" if fails else "new")
    assert [p.name for p in tmp_path.iterdir()] == ["report"]


def test_a_folder_that_is_not_a_report_is_never_replaced(tmp_path):
    """A report replaces its folder whole: a folder of the user's files (no index.html and
    metrics.json of a report) is refused, and every file in it stays."""
    folder = tmp_path / "mine"
    (folder / "sub").mkdir(parents=True)
    (folder / "my_notes.txt").write_text("keep")
    with pytest.raises(DataError, match="not a report of this command"):
        replace_folder(folder, lambda tmp: (tmp / "index.html").write_text("new"))
    assert (folder / "my_notes.txt").read_text() == "keep" and (folder / "sub").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no partial left
    empty = tmp_path / "empty"
    empty.mkdir()
    replace_folder(empty, lambda tmp: (tmp / "index.html").write_text("new"))
    assert (empty / "index.html").read_text() == "new"


# ------------------------------------------------------------------ the model store
class FileModel:
    """The least a store model does: write its files and its metadata.json (the writer
    subprocesses below define the same)."""

    def __init__(self, tag: str, trained_until: str = "2021-12-31"):
        self.tag, self.trained_until = tag, trained_until

    def save(self, folder: Path) -> None:
        (folder / "weights.bin").write_bytes(self.tag.encode() * 50_000)
        store.write_metadata(folder, {"training_window": {"start": "2020-01-02",
                                                          "end": self.trained_until},
                                      "tag": self.tag})


def complete(folder: Path) -> bool:
    """Both files there and whole: the weights of the tag the metadata names."""
    metadata = json.loads((folder / "metadata.json").read_text())
    return (folder / "weights.bin").read_bytes() == metadata["tag"].encode() * 50_000


def saved_folders(base: Path) -> list[Path]:
    return sorted(d for d in base.iterdir() if not d.name.startswith(".") and d.name != "latest")


def test_two_threads_saving_in_the_same_second_both_land(tmp_path):
    stamp = pd.Timestamp("2026-01-02 09:30:00").to_pydatetime()
    saved, errors = [], []

    def save(tag):
        try:
            saved.append(store.save_model(FileModel(tag), "lstm_poc", "SPY", tmp_path,
                                          stamp=stamp))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(tag,)) for tag in ("a", "b", "c", "d")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    base = store.model_dir("lstm_poc", "SPY", tmp_path)
    folders = saved_folders(base)
    assert sorted(folders) == sorted(saved) and len(folders) == 4
    assert all(f.name.startswith("2026-01-02_09-30-00-") and complete(f) for f in folders)
    assert {json.loads((f / "metadata.json").read_text())["tag"] for f in folders} == set("abcd")
    assert complete(base / "latest") and (base / "latest").resolve() in folders
    assert [p.name for p in base.iterdir() if p.name.startswith(".")] == []


SAVER = """
import sys, datetime as dt
from models import store
class FileModel:
    def __init__(self, tag):
        self.tag = tag
    def save(self, folder):
        (folder / "weights.bin").write_bytes(self.tag.encode() * 50_000)
        store.write_metadata(folder, {"training_window": {"start": "2020-01-02",
                                                          "end": "2021-12-31"},
                                      "tag": self.tag})
stamp = dt.datetime(2026, 1, 2, 9, 30)
for i in range(int(sys.argv[3])):
    print(store.save_model(FileModel(sys.argv[2]), "lstm_poc", "SPY", sys.argv[1], stamp=stamp),
          flush=True)
"""


def test_two_processes_saving_one_symbol_in_the_same_second_both_land(tmp_path):
    processes = [writer(SAVER, str(tmp_path), tag, "3") for tag in ("p", "q")]
    printed = [p.communicate()[0].split() for p in processes]
    assert [p.returncode for p in processes] == [0, 0]
    base = store.model_dir("lstm_poc", "SPY", tmp_path)
    folders = saved_folders(base)
    assert len(folders) == 6 and sorted(map(str, folders)) == sorted(sum(printed, []))
    assert all(complete(f) for f in folders) and complete(base / "latest")


def test_a_store_writer_killed_mid_save_leaves_only_whole_folders(tmp_path):
    process = writer(SAVER, str(tmp_path), "k", "1000")
    kill_after(process, 3)
    base = store.model_dir("lstm_poc", "SPY", tmp_path)
    folders = saved_folders(base)
    assert len(folders) >= 3 and all(complete(f) for f in folders)
    assert complete(base / "latest")
    # the next save sweeps what the killed writer left half-written
    store.save_model(FileModel("next"), "lstm_poc", "SPY", tmp_path)
    assert [p.name for p in base.iterdir() if p.name.startswith(".")] == []
    assert len(saved_folders(base)) == len(folders) + 1


def test_partial_folders_of_dead_writers_are_swept_and_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    for name in (f".2026-01-02_09-30-00-abc123.partial-{dead}", ".2025-01-01_00-00-00.partial",
                 ".latest.old", f".latest.partial-{dead}-abc123",
                 f".2026-01-02_09-30-00-def456.partial-{os.getpid()}"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "half.bin").write_bytes(b"x")
    assert sweep_partials(tmp_path) == 4
    assert [p.name for p in tmp_path.iterdir()] == [
        f".2026-01-02_09-30-00-def456.partial-{os.getpid()}"]


def test_a_failed_save_leaves_no_folder_and_the_old_latest(tmp_path):
    first = store.save_model(FileModel("ok"), "lstm_poc", "SPY", tmp_path)

    class Broken(FileModel):
        def save(self, folder):
            (folder / "weights.bin").write_bytes(b"half")
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        store.save_model(Broken("bad"), "lstm_poc", "SPY", tmp_path)
    base = first.parent
    assert saved_folders(base) == [first] and complete(base / "latest")
    assert json.loads((base / "latest" / "metadata.json").read_text())["tag"] == "ok"
    assert publish_folder  # the store's atomic publisher


# ------------------------------------------------------------------ stored direction models
@pytest.fixture(scope="module")
def tree_model(direction_training_bars):
    from models.direction_model import DirectionConfig, DirectionModel

    config = DirectionConfig(n_estimators=8, max_depth=2, rf_max_depth=3, n_folds=2,
                             min_train_samples=50, members=("xgboost", "random_forest"))
    return DirectionModel(config).fit(direction_training_bars)


@pytest.mark.parametrize("name, damage", [
    ("direction_model.pkl", lambda p: p.write_bytes(p.read_bytes()[:64])),
    ("direction_model.pkl", lambda p: p.write_text("not a pickle")),
    ("metadata.json", lambda p: p.write_text("{\"symbol\": ")),
    ("metadata.json", lambda p: p.write_text("[1, 2]")),
])
def test_a_corrupt_direction_model_is_a_data_error_naming_the_file(tree_model, tmp_path,
                                                                    name, damage):
    from models.direction_store import load_direction_model, save_direction_model

    folder = save_direction_model(tree_model, "SPY", tmp_path)
    damage(folder / name)
    with pytest.raises(DataError, match=f"{folder / name}: cannot be read.*truncated or "
                                        "corrupt"):
        load_direction_model(folder)


def test_premarket_picks_the_newest_valid_model_trained_before_the_as_of_date(tree_model,
                                                                               tmp_path,
                                                                               capsys):
    """Three stored models: the newest corrupt, the next trained after the as-of date, the
    oldest good: the oldest is used, and the note says what was skipped."""
    from engine.ml_trading.direction_store import stored_or_trained
    from models.direction_store import save_direction_model

    meta = {"source": "sample", "seed": 42}
    good = save_direction_model(tree_model, "SPY", tmp_path, metadata=meta)
    later = save_direction_model(tree_model, "SPY", tmp_path, metadata=meta)
    metadata = json.loads((later / "metadata.json").read_text())
    metadata["training_window"]["end"] = "2030-01-02"  # trained after the bars in hand
    (later / "metadata.json").write_text(json.dumps(metadata))
    corrupt = save_direction_model(tree_model, "SPY", tmp_path, metadata=meta)
    (corrupt / "direction_model.pkl").write_bytes(b"torn")
    # the newest: QQQ's model copied into SPY's folder
    copied = save_direction_model(tree_model, "QQQ", tmp_path, metadata=meta)
    copied = shutil.move(copied, good.parent / copied.name)
    settings = SimpleNamespace(model=tree_model.config, models_dir=tmp_path, seed=42,
                               retrain=False, quiet=False)
    source = SimpleNamespace(name="sample", describe=lambda: "sample")
    bars = pd.DataFrame(index=pd.DatetimeIndex([tree_model.trained_until]))
    model, note = stored_or_trained("SPY", bars, source, settings)
    assert note.startswith(f"stored model {good} (trained until")
    assert f"skipped {corrupt / 'direction_model.pkl'}: cannot be read" in note
    assert f"skipped {copied}: a model of QQQ, not SPY" in note
    assert str(later) not in note
    said = capsys.readouterr().err  # on screen too, not only in the signal file's column
    assert f"note: SPY: skipped {copied}: a model of QQQ, not SPY" in said
    assert f"note: SPY: skipped {corrupt / 'direction_model.pkl'}: cannot be read" in said
    assert asdict(model.config) == asdict(tree_model.config)


TREES = """
[direction]
members = ["xgboost", "random_forest"]
n_estimators = 8
max_train_bars = 300
n_folds = 2
min_train_samples = 60
"""


def test_a_corrupt_model_of_one_symbol_does_not_stop_the_others_premarket(tmp_path, capsys):
    """QQQ's stored model torn after the first premarket: the second still scores SPY with
    its stored model, and QQQ with a new one, saying which file it skipped."""
    import run

    (tmp_path / "trees.toml").write_text(TREES)
    argv = ["premarket", "--source", "sample", "--symbols", "SPY,QQQ", "--end-date",
            "2025-11-26", "--config", str(tmp_path / "trees.toml"), "--models-dir",
            str(tmp_path / "store"), "--report", str(tmp_path / "signals"), "-q"]
    assert run.main(argv) == 0
    capsys.readouterr()
    from models.direction_store import direction_dir

    torn = saved_folders(direction_dir("QQQ", tmp_path / "store"))[0]
    (torn / "direction_model.pkl").write_bytes(b"torn")
    assert run.main(argv) == 0
    assert capsys.readouterr().out.count(": Direction: ") == 2
    saved = json.loads((tmp_path / "signals" / "premarket_2025-11-26.json").read_text())
    models = {s["symbol"]: s["model"] for s in saved["signals"]}
    assert models["SPY"].startswith("stored model ")
    assert models["QQQ"].startswith("new model trained until 2025-11-26")
    assert f"skipped {torn / 'direction_model.pkl'}: cannot be read" in models["QQQ"]
    assert saved["errors"] == {}


def test_a_report_written_by_another_live_run_keeps_its_partial_folder(tmp_path):
    """Two runs writing the same report at once: the second must not sweep the first's
    partial folder away (its pid is alive); a dead writer's, or one without a pid, is."""
    folder = tmp_path / "report"
    parent_pid = os.getppid()  # a live process that is not this one
    live = tmp_path / f".report.partial-{parent_pid}-abcd1234"
    dead = tmp_path / ".report.partial-999999999-abcd1234"
    old_style = tmp_path / ".report.partial-abcd1234"
    for partial in (live, dead, old_style):
        partial.mkdir()
        (partial / "index.html").write_text("half")
    replace_folder(folder, lambda tmp: (tmp / "index.html").write_text("new"))
    assert live.is_dir() and not dead.exists() and not old_style.exists()
    assert (folder / "index.html").read_text() == "new"


def test_an_export_interrupted_while_written_leaves_the_old_file(tmp_path, monkeypatch):
    """--export-lines is written beside and swapped in: a Ctrl-C in the middle of the write
    leaves the previous file whole (it was left empty or half written)."""
    import run

    target = tmp_path / "lines.csv"
    target.write_text("the previous export\n")

    def half_then_interrupt(self, path, *args, **kwargs):
        Path(path).write_text("date,half")
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_then_interrupt)
    try:
        run.main(["backtest", "--source", "sample", "--symbols", "SPY", "--start-date",
                  "2024-01-02", "--end-date", "2024-03-28", "--no-report", "-q",
                  "--export-lines", str(target)])
    except KeyboardInterrupt:
        pass
    assert target.read_text() == "the previous export\n"
    assert [p.name for p in tmp_path.iterdir()] == ["lines.csv"]  # no temporary file left
