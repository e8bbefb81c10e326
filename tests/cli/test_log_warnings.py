"""Warnings that come through the log (a cache file rebuilt, an HMM that did not converge)
read as every other warning of a command: ``warning: ...``, not ``WARNING name: ...``."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

from cli.main import PlainWarnings

ROOT = Path(__file__).resolve().parents[2]


def test_an_unreadable_cache_file_is_a_warning_line_naming_the_file(tmp_path):
    argv = [sys.executable, "run.py", "backtest", "--source", "sample", "--symbols", "SPY",
            "--start-date", "2024-01-02", "--end-date", "2024-03-28", "--no-report", "-q",
            "--cache-dir", str(tmp_path)]
    subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=True, timeout=300)
    path, = tmp_path.rglob("*.parquet")
    path.write_bytes(b"not a parquet file")
    again = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=True,
                           timeout=300)
    said = [line for line in again.stderr.splitlines() if str(path) in line]
    assert len(said) == 1
    assert said[0].startswith(f"warning: cache file {path} is unreadable (")
    assert said[0].endswith("; rebuilding it")
    assert "WARNING" not in again.stderr
    assert path.stat().st_size > 100  # rebuilt


def test_the_hmm_note_is_a_warning_line_and_other_log_records_keep_their_name():
    def record(name: str, level: int, message: str) -> logging.LogRecord:
        return logging.getLogger(name).makeRecord(name, level, __file__, 1, message, (),
                                                  None)

    plain = PlainWarnings()
    assert plain.format(record("models.regimes", logging.WARNING,
                               "the regime classifier's HMM did not converge: ...")) == (
        "warning: the regime classifier's HMM did not converge: ...")
    assert plain.format(record("btml.ib", logging.WARNING, "disconnected")) == (
        "WARNING btml.ib: disconnected")
    assert plain.format(record("feeds.cache", logging.ERROR, "x")) == "ERROR feeds.cache: x"
