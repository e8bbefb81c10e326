"""``run.py data fetch``: pre-fills the cache with progress, resumes after an interruption
without fetching twice, honours ``--free``; and key flags are refused on every command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import run
from feeds import rate_limit
from feeds.polygon_options import PolygonOptionChain
from feeds.secrets import find_key, redact
from tests.fakes.fake_polygon import FakeClock, FakePolygon

WINDOW = ["--start-date", "2024-02-05", "--end-date", "2024-02-09"]


@pytest.fixture
def polygon(monkeypatch):
    with FakePolygon() as fake:
        monkeypatch.setenv("POLYGON_API_KEY", fake.api_key)
        monkeypatch.setenv("POLYGON_API_BASE", fake.base)
        monkeypatch.delenv("MASSIVE_API_KEY", raising=False)
        monkeypatch.delenv("UNUSUAL_WHALES_API_KEY", raising=False)
        yield fake


def fetch(cache, *extra) -> int:
    return run.main(["data", "fetch", "--symbols", "SPY", *WINDOW, "--options",
                     "--cache-dir", str(cache), *extra])


def test_fetch_fills_the_cache_so_a_backtest_sends_nothing(polygon, tmp_path, capsys,
                                                           monkeypatch):
    assert fetch(tmp_path) == 0
    out, err = capsys.readouterr()
    assert re.search(r"SPY option chains: 100%\|.*\| 5/5 \[\d\d:\d\d<00:00", err)  # progress
    assert "requests=" in err and "requests sent" in out  # the result on stdout
    sent = polygon.count()
    assert sent > 20 and polygon.count("/v3/reference/options/contracts") >= 5
    assert fetch(tmp_path) == 0
    assert polygon.count() == sent
    assert "done in" in capsys.readouterr().out
    chain, asked = PolygonOptionChain.chain, []
    monkeypatch.setattr(PolygonOptionChain, "chain",
                        lambda self, date: asked.append(date) or chain(self, date))
    assert run.main(["backtest", "--source", "polygon", "--symbols", "SPY", *WINDOW,
                     "--strategy", "credit-spread", "--no-report", "-q",
                     "--cache-dir", str(tmp_path)]) == 0
    assert asked  # the strategy did ask for chains...
    assert polygon.count() == sent  # ...and every one was in the cache


def test_an_interrupted_fetch_resumes_without_fetching_twice(polygon, tmp_path, monkeypatch,
                                                            capsys):
    assert fetch(tmp_path / "whole", "-q") == 0
    whole = polygon.count()
    chain = PolygonOptionChain.chain
    calls = []

    def interrupted(self, date):
        calls.append(date)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return chain(self, date)

    monkeypatch.setattr(PolygonOptionChain, "chain", interrupted)
    assert fetch(tmp_path / "resumed") == 130
    assert "run the same command again to resume" in capsys.readouterr().err
    partial = polygon.count() - whole
    assert 0 < partial < whole
    monkeypatch.setattr(PolygonOptionChain, "chain", chain)
    assert fetch(tmp_path / "resumed", "-q") == 0
    assert polygon.count() - whole == whole  # the two halves sent what one run sends


def test_free_tier_fetch_paces_requests(polygon, tmp_path, monkeypatch, capsys):
    clock = FakeClock()
    limiter = rate_limit.RateLimiter(5, 60.0, clock=clock, name="polygon-free")
    monkeypatch.setitem(rate_limit._SHARED, "polygon-free", limiter)
    assert run.main(["data", "fetch", "--symbols", "SPY", *WINDOW, "--free",
                     "--cache-dir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert "free tier" in err and "at most 5 requests per minute" in err
    assert limiter.acquired == polygon.count() > 5
    assert limiter.waited >= (limiter.acquired - 5) // 5 * 60.0
    assert re.search(rf"{polygon.count()} requests sent, .* \d+ s waiting for the rate limit",
                     out)


def test_quiet_fetch_still_prints_its_result(polygon, tmp_path, capsys):
    assert fetch(tmp_path, "-q") == 0
    out, err = capsys.readouterr()
    assert out.startswith("done in ") and "requests sent" in out and err == ""


def test_verbose_fetch_logs_each_request_and_never_the_key(polygon, tmp_path):
    """``-v`` turns on the debug lines of the run (each request the Polygon client sends),
    in a process of its own so that the command configures logging as a user's run does;
    the key is in none of them."""
    env = {**os.environ, "POLYGON_API_KEY": polygon.api_key, "POLYGON_API_BASE": polygon.base}
    argv = [sys.executable, "run.py", "data", "fetch", "--symbols", "SPY", *WINDOW,
            "--cache-dir", str(tmp_path)]
    root = Path(__file__).resolve().parents[2]
    verbose = subprocess.run([*argv, "-v"], cwd=root, env=env, capture_output=True,
                             text=True, timeout=120)
    assert verbose.returncode == 0, verbose.stderr[-2000:]
    requests = [line for line in verbose.stderr.splitlines()
                if line.startswith("DEBUG") and "/v2/aggs/ticker/SPY/" in line]
    assert requests  # the request lines are there
    assert polygon.api_key not in verbose.stdout + verbose.stderr
    assert subprocess.run([*argv, "-q", "-v"], cwd=root, env=env, capture_output=True,
                          text=True, timeout=120).returncode == 2  # one or the other


def test_a_window_after_the_last_complete_session_is_refused(polygon, tmp_path, capsys):
    assert run.main(["data", "fetch", "--symbols", "SPY", "--start-date", "2099-01-02",
                     "--end-date", "2099-02-02", "--cache-dir", str(tmp_path), "-q"]) == 2
    err = capsys.readouterr().err
    assert "error: --start-date 2099-01-02 is after the last complete session " in err
    assert polygon.count() == 0


def test_fetch_without_a_key_says_where_keys_go(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("POLYGON_API_KEY", raising=False)
    monkeypatch.delenv("MASSIVE_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    assert run.main(["data", "fetch", "--symbols", "SPY", *WINDOW]) == 2
    assert "POLYGON_API_KEY" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["backtest", "--polygon-key", "pk-LEAKME-1234"],
    ["data", "fetch", "--uw-key=pk-LEAKME-1234", "--symbols", "SPY"],
    ["--unusual-whales-key", "pk-LEAKME-1234", "backtest"],
    ["backtest", "--api-key=pk-LEAKME-1234"],
    # near misses, which argparse would echo as unrecognized arguments (issue 18)
    ["backtest", "--polygon_key=pk-LEAKME-1234"],
    ["backtest", "--apikey", "pk-LEAKME-1234"],
    ["ml-trading", "--UW-Token", "pk-LEAKME-1234"],
    ["data", "fetch", "--massive-api-key", "pk-LEAKME-1234"],
])
def test_key_flags_are_refused_without_echoing_the_value(argv, capsys):
    with pytest.raises(SystemExit) as info:
        run.main(argv)
    assert info.value.code == 2
    out, err = capsys.readouterr()
    assert "POLYGON_API_KEY" in err and "UNUSUAL_WHALES_API_KEY" in err and ".env" in err
    assert "pk-LEAKME-1234" not in out + err


def test_keys_come_from_the_environment_first_then_dotenv(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("POLYGON_API_KEY=from-file-1234\nUNUSUAL_WHALES_API_KEY=uw-file-9876\n")
    assert find_key(["POLYGON_API_KEY"], {}, dotenv) == "from-file-1234"
    assert find_key(["POLYGON_API_KEY"], {"POLYGON_API_KEY": "env-wins"}, dotenv) == "env-wins"
    assert find_key(["POLYGON_API_KEY", "MASSIVE_API_KEY"], {"MASSIVE_API_KEY": "massive-1"},
                    tmp_path / "none") == "massive-1"
    assert find_key(["POLYGON_API_KEY"], {"POLYGON_API_KEY": "  "}, tmp_path / "none") is None
    assert redact("key=abcd1234 and abc", ["abcd1234", "abc", None]) == "key=*** and abc"


def test_the_working_folders_dotenv_is_read_and_a_non_utf8_one_refused(tmp_path, capsys,
                                                                      monkeypatch):
    """The .env of the folder the command runs in (python-dotenv alone searched from the
    code's folder); a Latin-1 file is an error naming it, not a UnicodeDecodeError."""
    from feeds.secrets import load_dotenv_file

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BTML_TEST_SETTING", raising=False)
    (tmp_path / ".env").write_text("BTML_TEST_SETTING=from-here\n")
    load_dotenv_file()
    assert os.environ.pop("BTML_TEST_SETTING") == "from-here"
    (tmp_path / ".env").write_bytes(b"A=\xe9t\xe9\n")
    assert run.main(["backtest", "--source", "sample", "--symbols", "SPY", "--no-report",
                     "-q"]) == 2
    assert capsys.readouterr().err == (f"error: {tmp_path / '.env'} is not UTF-8 text: save it "
                                       "as UTF-8 (its keys cannot be read)\n")


def test_help_documents_the_command(capsys):
    with pytest.raises(SystemExit):
        run.main(["data", "fetch", "--help"])
    text = capsys.readouterr().out
    for word in ("--options", "--free", "POLYGON_API_KEY", "UNUSUAL_WHALES_API_KEY",
                 "POLYGON_API_BASE", "resume"):
        assert word in text
