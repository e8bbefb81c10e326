"""Issue 18, nothing silent: every bad input of the table below stops ``run.py`` with exit
code 2 and one ``error:`` line naming the option, file, line or model file at fault, never
a traceback; the inputs that look odd but are valid (UTC offsets, dd/mm/yyyy, a trailing
blank line) run. Most cases must fail before any data work, so the table stays fast."""

from __future__ import annotations

import json
import os
import re
import shutil

import pandas as pd
import pytest

import run

WINDOW = ["--start-date", "2024-01-02", "--end-date", "2024-03-28"]
SAMPLE = ["backtest", "--source", "sample", "--symbols", "SPY", *WINDOW, "--no-report", "-q"]
SPREADS = [*SAMPLE, "--strategy", "credit-spread"]


def main(argv: list[str]) -> int:
    """``run.main``, with argparse's own refusals (SystemExit) read as their exit code."""
    try:
        return run.main(argv)
    except SystemExit as exc:
        return exc.code


def csv_rows(dates, fmt: str = "%Y-%m-%d") -> str:
    prices = [round(100 + 0.1 * i, 2) for i in range(len(dates))]
    return "date,open,high,low,close,volume\n" + "".join(
        f"{d.strftime(fmt)},{p},{p + 1},{p - 1},{p},1000\n" for d, p in zip(dates, prices,
                                                                        strict=True))


DAYS = pd.bdate_range("2023-01-02", periods=120)


@pytest.fixture()
def no_data_work(monkeypatch):
    """Opening a source fails the test: the refusal must come before any data work."""
    def no_source(*args, **kwargs):
        raise AssertionError("a source was opened for a refused request")

    monkeypatch.setattr("feeds.sources.make_source", no_source)


# ------------------------------------------------------------------ options, before any work
@pytest.mark.parametrize("argv, names", [
    ([*SAMPLE, "--cash", "0"], "--cash"),
    ([*SAMPLE, "--cash", "inf"], "--cash"),
    ([*SAMPLE, "--cash", "nan"], "--cash"),
    ([*SAMPLE, "--cash", "-1000"], "--cash"),
    ([*SAMPLE, "--commission", "-0.01"], "--commission"),
    ([*SPREADS, "--stop-multiple", "0"], "--stop-multiple"),
    ([*SPREADS, "--dte-min", "45", "--dte-max", "30"], "--dte-min 45 is above --dte-max 30"),
    ([*SPREADS, "--close-days-before-expiry", "45"],
     "--close-days-before-expiry 45 is not below --dte-max 45"),
    ([*SPREADS, "--width", "-5"], "--width"),
    ([*SPREADS, "--width", "0"], "--width"),
    ([*SPREADS, "--target-delta", "0"], "--target-delta"),
    ([*SPREADS, "--risk-per-trade", "0"], "--risk-per-trade"),
    (["train", "--epochs", "0"], "--epochs"),
    (["train", "--epochs", "-3"], "--epochs"),
    (["train", "--folds", "-1"], "--folds"),
    (["train", "--epochs", "3"], "--epochs: only the LSTM head"),
    ([*SAMPLE, "--signals", "ml", "--epochs", "3"], "--epochs: only the LSTM head"),
    ([*SAMPLE, "--symbols", "SPY,SPY"], "SPY named more than once"),
    ([*SAMPLE, "--symbols", "SPY,QQQ,spy"], "SPY named more than once"),
    # an account that can never size one contract of the width asked for
    ([*SPREADS, "--width", "25"], "--risk-per-trade 0.02 of 100,000.00 cash is 2,000.00, "
                                  "less than one contract's full width at --width 25"),
    ([*SPREADS, "--width", "5", "--cash", "1000"], "no spread can ever be sized"),
    ([*SPREADS, "--width", "10", "--max-portfolio-risk", "0.005"],
     "--max-portfolio-risk 0.005 of 100,000.00 cash is 500.00"),
    # options the run would ignore
    ([*SPREADS, "--commission", "0.1"], "--commission applies only with --strategy equity"),
    ([*SPREADS, "--allow-short"], "--allow-short applies only with --strategy equity"),
    ([*SAMPLE, "--target-delta", "0.1"],
     "--target-delta applies only with --strategy credit-spread"),
    ([*SAMPLE, "--commission-per-contract", "1"], "--commission-per-contract applies only"),
    ([*SAMPLE, "--model", "latest"], "--model applies only with --signals ml"),
    ([*SAMPLE, "--head", "lstm"], "--head applies only with --signals ml"),
    ([*SAMPLE, "--csv", "prices.csv"], "--csv applies only with --source csv"),
    ([*SAMPLE, "--free"], "--free applies only with --source polygon"),
    ([*SAMPLE, "--signals", "ml", "--window", "rolling"], "--window rolling is the window "
                                                          "of the refits; it needs --refit-every"),
    ([*SAMPLE, "--report", "somewhere"], "--no-report writes no report"),
    ([*SAMPLE, "--plot"], "--plot saves its figure into the report folder"),
    (["backtest", "--source", "sample", "--symbols", "SPY,QQQ", *WINDOW, "--portfolio",
      "--plot"], "a --portfolio run has one account and no such figure"),
    (["paper", "--model", "latest"], "--model applies only with --signals ml or direction"),
    (["premarket", "--symbols", "AAPL", "--head", "lstm"],
     "run.py premarket: error: unrecognized arguments: --head lstm (`python run.py premarket "
     "--help` lists the options)"),
    ([*SPREADS, "--option-slippage", "0.05"],
     "--option-slippage applies only with --option-fill mid (natural fills already pay"),
    (["sweep", "--symbols", "SPY", "--option-slippage", "0.05"],
     "--option-slippage applies only with --option-fill mid"),
    (["train", "--model-dir", "models"],
     "run.py train: error: unrecognized arguments: --model-dir models; did you mean "
     "--models-dir? (`python run.py train --help` lists the options)"),
    ([*SAMPLE, "--stratgy", "equity"], "unrecognized arguments: --stratgy equity; did you "
                                       "mean --strategy?"),
    (["sweep", "--symbols", "SPY", "--strategy", "equity", "--commission-per-contract", "1"],
     "--commission-per-contract applies only with --strategy credit-spread"),
    (["paper", "--ib-port", "70000"], "--ib-port: expected a port from 1 to 65535"),
    (["paper", "--max-bars", "0"], "--max-bars: expected a whole number of at least 1"),
    (["paper", "--max-daily-loss", "-100"], "--max-daily-loss: expected a number above 0"),
    (["paper", "--connect-timeout", "0"], "--connect-timeout: expected a number above 0"),
    (["paper", "--client-id", "-5"], "--client-id: expected a whole number of at least 0"),
    (["paper", "--confirm-live", "U999"], "--confirm-live confirms a --live run"),
    ([*SAMPLE, "--start-date", "01/02/2024"], "--start-date: not a date (YYYY-MM-DD)"),
    ([*SAMPLE, "--end-date", "13/02/2024"], "--end-date: not a date (YYYY-MM-DD)"),
    (["train", "--train-years", "2"], "--train-years is the length of a rolling window"),
    (["train", "--lstm-start", "2021-03-01", "--hmm-start", "2021-06-01"],
     "--hmm-start 2021-06-01 is after --lstm-start 2021-03-01"),
    (["sweep", "--symbols", "SPY", "--grid", "dte_min=50", "--grid", "dte_max=40"],
     "--grid: the credit-spread strategy refuses every parameter set, the first: dte_min=50, "
     "dte_max=40: dte_min=50 is above dte_max=40"),
    (["sweep", "--symbols", "SPY", "--grid", "close_days_before_expiry=50"],
     "--grid: the credit-spread strategy refuses every parameter set, the first: "
     "close_days_before_expiry=50: close_days_before_expiry=50 is not below dte_max=45"),
    (["paper", "--strategy", "credit-spread", "--min-confidence", "0.5"],
     "--min-confidence applies only with --strategy equity"),
    (["paper", "--target-delta", "0.2"],
     "--target-delta applies only with --strategy credit-spread"),
    (["sweep", "--symbols", "SPY", "--grid", "min_confidence=0.2,0.3", "--csv", "x.csv"],
     "--csv applies only with --source csv (this run has --source sample)"),
])
def test_a_bad_option_exits_2_naming_it_before_any_data_work(argv, names, capsys,
                                                             no_data_work):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "error:" in err and names in err and "Traceback" not in err


@pytest.mark.parametrize("command, table, names", [
    ("train", "[lstm]\nepochs = 0\n", "lstm: epochs=0 must be 1 or more"),
    ("train", "[lstm]\nbatch_size = -1\n", "lstm: batch_size=-1 must be 1 or more"),
    ("train", "[labels]\ndte_min = 45\ndte_max = 30\n", "labels: dte_min=45 must be"),
    ("train", "[labels]\nclose_days_before_expiry = 45\n",
     "labels: close_days_before_expiry=45 must be"),
    ("train", "[labels]\nstop_multiple = 0.5\n", "labels: stop_multiple=0.5 must be"),
    ("train", "[hmm]\nn_components = 3\n", "hmm: n_components=3 must be 5"),
    ("premarket", "[direction]\nepochs = 0\n", "epochs, batch_size, n_estimators"),
    ("backtest", "[lstm]\nepochs = 0\n", "lstm: epochs=0 must be 1 or more"),
])
def test_a_bad_value_in_a_config_file_exits_2_naming_file_and_field(command, table, names,
                                                                    tmp_path, capsys,
                                                                    no_data_work):
    """The flags' rules hold for the same values in a --config file: an untrained network
    or a label no spread can be traded by is refused before any data work."""
    config = tmp_path / "model.toml"
    config.write_text(table)
    argv = ["--symbol" if command == "train" else "--symbols", "SPY", "--source", "sample",
            "--config", str(config), "-q"]
    if command == "backtest":
        argv += ["--signals", "ml", "--no-report"]
    assert main([command, *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {config}: ") and names in err and "Traceback" not in err


def test_auto_with_symbols_of_two_sources_explains_what_it_picked(monkeypatch, capsys):
    """No API key: ``auto`` reads SP500 from the bundled real data and SPY from the sample
    market; one backtest cannot mix them, and the message says why, not "unknown symbol"."""
    for name in ("POLYGON_API_KEY", "MASSIVE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(os.path.dirname(__file__))  # no .env with a key here
    assert main(["backtest", "--symbols", "SPY,SP500", *WINDOW, "--no-report", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --source auto picks one source for every symbol")
    assert "SP500 is only in the bundled real data" in err and "unknown symbol" not in err


def test_outputs_that_cannot_be_written_are_refused_before_the_backtest(tmp_path, capsys,
                                                                         no_data_work):
    folder, file = tmp_path / "lines", tmp_path / "report"
    folder.mkdir()
    file.write_text("my notes\n")
    assert main([*SAMPLE, "--export-lines", str(folder)]) == 2
    assert f"error: --export-lines {folder} is a folder" in capsys.readouterr().err
    argv = [a for a in SAMPLE if a != "--no-report"]
    assert main([*argv, "--report", str(file)]) == 2
    captured = capsys.readouterr()
    assert f"error: --report {file} is a file" in captured.err
    assert "Results Summary" not in captured.out  # nothing ran
    assert file.read_text() == "my notes\n"  # and the file is left as it was
    assert main([*argv, "--report", str(file / "sub")]) == 2
    assert "is a file, so the folder cannot be created" in capsys.readouterr().err


def test_an_output_file_that_is_not_a_regular_file_is_refused_and_kept(tmp_path, capsys,
                                                                       no_data_work):
    """A file is written beside its path and renamed over it, which replaced a device or a
    pipe given as --export-lines (/dev/full became a CSV file, and 'Lines exported to
    /dev/full' was said); such a path is refused before the run and left as it is."""
    import os
    import stat

    pipe = tmp_path / "lines.fifo"
    os.mkfifo(pipe)
    assert main([*SAMPLE, "--export-lines", str(pipe)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"error: --export-lines {pipe} is not a regular file (a "
                                   "pipe, a device): a file is written beside it and renamed "
                                   "over it; name a file")
    assert "Results Summary" not in captured.out
    assert stat.S_ISFIFO(pipe.stat().st_mode)


def test_a_report_never_replaces_a_folder_of_the_users_files(tmp_path, capsys, no_data_work,
                                                             monkeypatch):
    """A backtest report replaces its folder whole: a folder holding other files, or the
    folder the command runs in, is refused before any work and keeps every file; a place
    nothing can be written (/proc) is refused before the run too."""
    mine = tmp_path / "mine"
    (mine / "sub").mkdir(parents=True)
    (mine / "my_notes.txt").write_text("keep")
    argv = [a for a in SAMPLE if a != "--no-report"]
    assert main([*argv, "--report", str(mine)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"error: --report {mine} holds files that are not a "
                                   "backtest report")
    assert "Results Summary" not in captured.out
    assert (mine / "my_notes.txt").read_text() == "keep" and (mine / "sub").is_dir()
    monkeypatch.chdir(mine)
    for here in (".", str(tmp_path)):
        assert main([*argv, "--report", here]) == 2
        assert "is the folder the command runs in" in capsys.readouterr().err
    assert main([*argv, "--report", ""]) == 2
    assert "argument --report: expected a path, got an empty one" in capsys.readouterr().err
    assert main([*argv, "--report", "/proc/btml_report"]) == 2
    assert "error: --report /proc/btml_report: /proc is not writable" in capsys.readouterr().err
    assert sorted(p.name for p in mine.iterdir()) == ["my_notes.txt", "sub"]


@pytest.mark.parametrize("flag", ["--polygon_key=SECRET1234", "--apikey", "--API-TOKEN",
                                  "--apikeys=SECRET1234", "--key-polygon",
                                  "--uw_api_key_value=SECRET1234",
                                  "POLYGON_API_KEY=SECRET1234"])
def test_near_miss_key_flags_are_refused_without_echoing_the_secret(flag, capsys):
    argv = ["backtest", flag] + ([] if "=" in flag else ["SECRET1234"])
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "error:" in captured.err and flag.split("=")[0] in captured.err
    assert "SECRET1234" not in captured.out + captured.err


# ------------------------------------------------------------------ CSV files
@pytest.mark.parametrize("name, text, message", [
    ("SHORT", csv_rows(DAYS[:40]), "csv has 40 bars of SHORT"),
    ("MINUTE", csv_rows(pd.date_range("2024-01-02 09:30", periods=120, freq="min"),
                        "%Y-%m-%d %H:%M:%S"), "line 3"),
    ("BADDATE", csv_rows(DAYS).replace("2023-03-01", "31/31/2023"), "BADDATE.csv"),
    ("HIGH", csv_rows(DAYS).replace("2023-01-10,100.6,101.6,99.6,100.6",
                                    "2023-01-10,100.6,101.6,99.6,105"),
     "line 8: close 105 is above high 101.6"),
    ("TYPO", csv_rows(DAYS) + "2924-12-31,110,111,109,110,1000\n",
     "line 122: date '2924-12-31' is in the future"),
])
def test_a_malformed_csv_exits_2_naming_the_file_and_line(tmp_path, name, text, message,
                                                          capsys):
    (tmp_path / f"{name}.csv").write_text(text)
    assert main(["backtest", "--source", "csv", "--csv", str(tmp_path), "--symbols", name,
                 "--no-report", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err and "Traceback" not in err


@pytest.mark.parametrize("name, text", [
    ("UTC", csv_rows(DAYS, "%Y-%m-%dT00:00:00+00:00")),
    # New York midnights as a broker exports them: -05:00 in winter, -04:00 after the DST
    # change of 2023-03-12
    ("DST", csv_rows(DAYS.tz_localize("America/New_York"), "%Y-%m-%d %H:%M:%S%z").replace(
        "-0500", "-05:00").replace("-0400", "-04:00")),
    ("DAYFIRST", csv_rows(DAYS, "%d/%m/%Y")),
    ("BLANKTAIL", csv_rows(DAYS) + "   \n\n"),
])
def test_odd_but_valid_csv_files_run(tmp_path, name, text, capsys):
    (tmp_path / f"{name}.csv").write_text(text)
    assert main(["backtest", "--source", "csv", "--csv", str(tmp_path), "--symbols", name,
                 "--no-report", "-q"]) == 0
    assert f"{name}: Return: " in capsys.readouterr().out


@pytest.mark.parametrize("one_file", [True, False])
def test_csv_without_symbols_backtests_the_files_own(tmp_path, one_file, capsys):
    """A file's name is its symbol: without --symbols the run takes the file's (or every
    file's of a folder), not the bundled default SP500,NASDAQ."""
    (tmp_path / "GOOD.csv").write_text(csv_rows(DAYS))
    (tmp_path / "MORE.csv").write_text(csv_rows(DAYS))
    path = tmp_path / "GOOD.csv" if one_file else tmp_path
    assert main(["backtest", "--source", "csv", "--csv", str(path), "--no-report", "-q"]) == 0
    out = capsys.readouterr().out
    assert "GOOD: Return: " in out and ("MORE: Return: " in out) != one_file


def test_two_files_of_one_symbol_in_a_folder_are_refused(tmp_path, capsys):
    (tmp_path / "good.csv").write_text(csv_rows(DAYS))
    (tmp_path / "GOOD.csv").write_text(csv_rows(DAYS))
    if len(list(tmp_path.iterdir())) < 2:
        pytest.skip("a case-insensitive file system holds one of them only")
    assert main(["backtest", "--source", "csv", "--csv", str(tmp_path), "--symbols", "GOOD",
                 "--no-report", "-q"]) == 2
    assert "GOOD.csv and good.csv are the same symbol GOOD" in capsys.readouterr().err


# ------------------------------------------------------------------ the cache folder
def test_cache_folders_that_can_never_work_are_refused(tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("")
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    for folder in (a_file, "/dev/null", loop):
        assert main([*SAMPLE, "--cache-dir", str(folder)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: cache folder {folder}") and "--cache-dir" in err


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root writes into read-only folders")
def test_a_read_only_cold_cache_is_refused(tmp_path, capsys):
    cache = tmp_path / "cache"
    cache.mkdir()
    cache.chmod(0o555)
    try:
        assert main([*SAMPLE, "--cache-dir", str(cache)]) == 2
        assert f"error: cache folder {cache} is not writable" in capsys.readouterr().err
    finally:
        cache.chmod(0o755)


# ------------------------------------------------------------------ the Dask scheduler
def test_an_unreachable_scheduler_fails_in_seconds(monkeypatch, capsys, no_data_work):
    from cli import sweep

    asked = []
    real = sweep.check_scheduler

    def short(address, timeout=sweep.CONNECT_TIMEOUT_S):
        asked.append(timeout)
        return real(address, timeout=0.5)

    monkeypatch.setattr(sweep, "check_scheduler", short)
    assert main(["sweep", "--source", "sample", "--symbols", "SPY",
                 "--cluster", "tcp://127.0.0.1:9", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --cluster tcp://127.0.0.1:9: no Dask scheduler answers")
    assert asked == [sweep.CONNECT_TIMEOUT_S] and sweep.CONNECT_TIMEOUT_S <= 5


def test_a_scheduler_address_where_another_server_answers_is_refused(capsys, no_data_work):
    """A web server on the port (a typo, a proxy): Dask misreads its answer (a multi-exabyte
    frame length, a bad header); the run says so instead of a traceback."""
    import socket
    import threading

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]

        def answer_like_http():
            while True:
                try:
                    conn, _ = server.accept()
                except OSError:
                    return
                with conn:
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" * 4)

        threading.Thread(target=answer_like_http, daemon=True).start()
        code = main(["sweep", "--source", "sample", "--symbols", "SPY",
                     "--cluster", f"tcp://127.0.0.1:{port}", "-q"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"error: --cluster tcp://127.0.0.1:{port}: ")
    assert "Traceback" not in err


# ------------------------------------------------------------------ stored models
@pytest.fixture(scope="module")
def stored_model(tiny_model, tmp_path_factory):
    """The tiny SPY strategy model saved once (trained on the sample market to 2021)."""
    from models.store import save_models

    root = tmp_path_factory.mktemp("store")
    return save_models(tiny_model, root, "lstm_poc", "SPY", metadata={"source": "sample"})


def copy_of(stored_model, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(stored_model, folder)
    return folder


def ml_backtest(folder, symbol: str = "SPY", source: str = "sample") -> list[str]:
    return ["backtest", "--source", source, "--symbols", symbol, *WINDOW, "--no-report",
            "-q", "--signals", "ml", "--model", str(folder)]


@pytest.mark.parametrize("name, damage", [
    ("model.keras", lambda p: p.write_bytes(p.read_bytes()[:200])),
    ("strategy_model.pkl", lambda p: p.write_bytes(p.read_bytes()[:100])),
    ("strategy_model.pkl", lambda p: p.write_bytes(b"garbage, not a pickle")),
    ("metadata.json", lambda p: p.write_text(p.read_text()[:50])),
    ("model.keras", lambda p: p.write_text("a text file named .keras")),
])
def test_a_corrupt_stored_model_is_refused_naming_the_file(stored_model, tmp_path, name,
                                                           damage, capsys):
    folder = copy_of(stored_model, tmp_path)
    damage(folder / name)
    assert main(ml_backtest(folder)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(folder / name) in err
    assert "truncated or corrupt" in err and "Traceback" not in err


def test_a_missing_stored_model_suggests_the_command_that_makes_it(tmp_path, capsys):
    assert main([*SAMPLE, "--signals", "ml", "--model", "latest", "--models-dir",
                 str(tmp_path), "--store-label", "prod"]) == 2
    assert (f"(train one with `python run.py train --symbol SPY --save --store-label prod "
            f"--models-dir {tmp_path}`)") in capsys.readouterr().err



def test_a_mistyped_store_folder_name_is_looked_for_in_the_store(tmp_path, monkeypatch,
                                                                 capsys):
    """`--model TIMESTAMP` without its random suffix (or any name that is no folder) is a
    store folder name: the error names where it was looked for and a command that runs,
    not `--symbol  --save --models-dir .` built from the bare name."""
    monkeypatch.chdir(tmp_path)
    store = tmp_path / "store"
    assert main([*SAMPLE, "--signals", "ml", "--model", "2024-01-05_10-00-00",
                 "--models-dir", str(store), "--store-label", "prod"]) == 2
    err = capsys.readouterr().err
    assert f"no model folder at {store / 'prod' / 'SPY' / '2024-01-05_10-00-00'}" in err
    assert (f"(train one with `python run.py train --symbol SPY --save --store-label prod "
            f"--models-dir {store}`)") in err
    (store / "prod" / "SPY" / "2024-01-05_10-00-00-3f9a1c").mkdir(parents=True)
    assert main([*SAMPLE, "--signals", "ml", "--model", "2024-01-05_10-00-00",
                 "--models-dir", str(store), "--store-label", "prod"]) == 2
    assert "SPY holds 2024-01-05_10-00-00-3f9a1c" in capsys.readouterr().err  # the name


def test_a_folder_that_holds_no_model_of_the_kind_says_what_it_holds(stored_model, capsys):
    """`--model` naming a symbol's store folder (the one holding the timestamps and
    latest/), or a seed-000 folder handed to a Direction loader, says what the folder is,
    not only which files it lacks."""
    from core.errors import DataError
    from models.direction_store import load_direction_model

    assert main(ml_backtest(stored_model.parent)) == 2
    err = capsys.readouterr().err
    assert "is a symbol's store folder" in err and str(stored_model.parent / "latest") in err
    with pytest.raises(DataError, match="holds a seed-000 strategy model"):
        load_direction_model(stored_model)


def test_a_latest_link_to_a_deleted_folder_says_so(stored_model, tmp_path, capsys):
    """`latest` left pointing at a model folder deleted by hand: the error says where it
    points and that the folder is gone (and which folders are left), not only 'no model
    folder at .../latest'."""
    store = tmp_path / "store"
    shutil.copytree(stored_model.parent, store / "lstm_poc" / "SPY", symlinks=True)
    kept = store / "lstm_poc" / "SPY" / "2020-01-02_10-00-00-aaaaaa"
    shutil.copytree(stored_model, kept)
    shutil.rmtree(store / "lstm_poc" / "SPY" / stored_model.name)
    assert main([*SAMPLE, "--signals", "ml", "--model", "latest", "--models-dir",
                 str(store)]) == 2
    err = capsys.readouterr().err
    assert f"latest points at {stored_model.name}, which is gone" in err
    assert f"holds {kept.name}" in err

def test_a_model_of_another_symbol_is_refused(stored_model, tmp_path, capsys):
    folder = copy_of(stored_model, tmp_path)
    assert main(ml_backtest(folder, symbol="QQQ")) == 2
    assert "was trained on SPY, not QQQ" in capsys.readouterr().err


def test_a_model_of_another_symbol_is_told_the_command_that_makes_its_kind():
    from core.errors import DataError
    from models.store import check_trained_for

    with pytest.raises(DataError, match="make one with `python run.py train --symbol QQQ "
                                        "--save`"):
        check_trained_for({"symbol": "SPY", "mode": "lstm_poc"}, "qqq", "F")
    with pytest.raises(DataError, match="make one with `python run.py premarket --symbols "
                                        "QQQ`"):
        check_trained_for({"symbol": "SPY", "mode": "direction"}, "QQQ", "F")
    check_trained_for({"symbol": "QQQ", "mode": "direction"}, "qqq", "F")  # its own: fine


def test_a_paper_run_refuses_a_model_of_another_symbol(stored_model, tmp_path):
    """A path given to ``paper --model`` is checked as in a backtest, before any connect."""
    import datetime as dt

    from core.errors import DataError
    from engine.paper_models import paper_models

    folder = copy_of(stored_model, tmp_path)
    with pytest.raises(DataError, match=f"the model in {folder} was trained on SPY, not QQQ"):
        paper_models("ml", str(folder), ["QQQ"], tmp_path, None, dt.date(2030, 1, 2))


def test_a_model_of_another_simulated_market_runs_with_a_loud_warning(stored_model, tmp_path,
                                                                      capsys):
    """A model of the sample market of seed 7 scoring seed 42's bars (another market under
    the same source name) ran without a word."""
    folder = copy_of(stored_model, tmp_path)
    metadata = json.loads((folder / "metadata.json").read_text())
    (folder / "metadata.json").write_text(json.dumps({**metadata, "seed": 7}))
    argv = [a for a in ml_backtest(folder) if a != "-q"]
    assert main(argv) == 0
    assert (f"warning: SPY: the model in {folder} was trained on sample data of seed 7; this "
            "run reads seed 42, another simulated market (--seed 7 reads the one it "
            "learned)") in capsys.readouterr().out
    assert main([*argv, "--seed", "7"]) == 0
    assert "another simulated market" not in capsys.readouterr().out


def test_a_model_of_another_source_runs_with_a_loud_warning(stored_model, tmp_path, capsys):
    folder = copy_of(stored_model, tmp_path)
    metadata = json.loads((folder / "metadata.json").read_text())
    (folder / "metadata.json").write_text(json.dumps({**metadata, "source": "polygon"}))
    argv = [a for a in ml_backtest(folder) if a not in ("-q", "--no-report")]
    assert main([*argv, "--report", str(tmp_path / "report")]) == 0
    out = capsys.readouterr().out
    assert f"warning: SPY: the model in {folder} was trained on polygon data; this run " \
           "reads sample" in out
    saved = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert any("trained on polygon" in w for w in saved["symbols"]["SPY"]["warnings"])


@pytest.mark.parametrize("argv, message", [
    (["--hmm-start", "2026-06-01"], "--hmm-start 2026-06-01 is not before the last training "
                                    "bar 2025-12-31"),
    (["--hmm-start", "2023-06-01"], "--hmm-start 2023-06-01 is after the strategy model's "
                                    "first labelled bar 2021-12-31 (4 years before the last "
                                    "training bar)"),
])
def test_training_starts_the_data_cannot_hold_are_refused_before_labels(argv, message,
                                                                       monkeypatch, capsys):
    """Known once the source says where its data ends; still before any label is priced."""
    def no_labels(*args, **kwargs):
        raise AssertionError("labels were priced for a refused request")

    monkeypatch.setattr("training.pipeline.cached_strategy_labels", no_labels)
    assert main(["train", "--source", "sample", *argv, "-q"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


# ------------------------------------------------------------------ one bad symbol of many
def test_one_bad_symbol_does_not_stop_the_others(tmp_path, capsys):
    (tmp_path / "GOOD.csv").write_text(csv_rows(DAYS))
    (tmp_path / "BAD.csv").write_text(csv_rows(DAYS).replace("2023-02-01", "not a date"))
    report = tmp_path / "report"
    assert main(["backtest", "--source", "csv", "--csv", str(tmp_path), "--symbols",
                 "GOOD,BAD,NOPE", "--report", str(report)]) == 1
    captured = capsys.readouterr()
    assert "GOOD: Return: " in captured.out
    assert f"BAD: error: {tmp_path / 'BAD.csv'}: line " in captured.out
    assert f"error: BAD: {tmp_path / 'BAD.csv'}: line " in captured.err
    assert "error: NOPE: " in captured.err and "Traceback" not in captured.err
    saved = json.loads((report / "metrics.json").read_text())
    assert list(saved["symbols"]) == ["GOOD"] and set(saved["run"]["errors"]) == {"BAD", "NOPE"}


def test_help_documents_the_exit_codes(capsys):
    assert main(["backtest", "--help"]) == 0
    assert "Exit codes: 0 every symbol ran; 1 some symbols failed" in " ".join(
        capsys.readouterr().out.split())


# ------------------------------------------------------------------ honest windows
def test_the_header_and_metrics_show_the_window_actually_traded(tmp_path, capsys):
    """120 sessions from 2023-01-02, 60 of warm-up: the run trades from the 61st session,
    whatever start was asked for, and says so."""
    (tmp_path / "LATE.csv").write_text(csv_rows(DAYS))
    report = tmp_path / "report"
    assert main(["backtest", "--source", "csv", "--csv", str(tmp_path), "--symbols", "LATE",
                 "--start-date", "2022-01-03", "--end-date", "2023-12-29",
                 "--report", str(report)]) == 0
    out = capsys.readouterr().out
    first, last = f"{DAYS[60]:%Y-%m-%d}", f"{DAYS[-1]:%Y-%m-%d}"
    assert f"{first}..{last} (requested 2022-01-03..2023-12-29)" in out
    assert f"warning: LATE: traded from {first}, not 2022-01-03" in out
    assert f"warning: LATE: traded until {last}, not 2023-12-29" in out
    saved = json.loads((report / "metrics.json").read_text())
    assert (saved["run"]["start"], saved["run"]["end"]) == (first, last)
    assert saved["run"]["requested_start"] == "2022-01-03"
    late = saved["symbols"]["LATE"]
    assert (late["start"], late["end"], late["sessions"]) == (first, last, 60)
    # business days are not NYSE sessions: 2023-01-02 (New Year's Day observed) and the
    # other holidays are rows on days NYSE did not trade, said and kept
    assert late["warnings"][2] == ("LATE.csv: 5 row(s) on days NYSE did not trade, taken as "
                                   "sessions (the first 2023-01-02, a Monday)")
    assert len(late["warnings"]) == 5  # the straight line never calls for a trade:
    assert late["warnings"][3].startswith("the signal made no BUY/SELL call on the sessions")
    assert late["warnings"][4].startswith("no order filled in 60 traded sessions: the 0.00%")


def test_the_default_start_is_a_session_not_the_saturday_three_years_back(capsys):
    """2025-12-31 less 3 years is Saturday 2022-12-31: the window starts on the first
    session after it, and the header claims no other requested window."""
    assert main(["backtest", "--source", "sample", "--symbols", "SPY", "--no-report"]) == 0
    out = capsys.readouterr().out
    assert "2023-01-03..2025-12-31, cash" in out and "requested" not in out


def test_a_portfolio_says_when_its_latest_symbol_moves_the_start(capsys):
    """The sample market starts 2008-01-02: one account trades once every symbol is warm."""
    assert main(["backtest", "--source", "sample", "--symbols", "SPY,QQQ", "--portfolio",
                 "--start-date", "2008-01-01", "--end-date", "2008-12-31", "--no-report"]) == 0
    out = capsys.readouterr().out
    assert "2008-03-31..2008-12-31 (requested 2008-01-01..2008-12-31), one account" in out
    assert ("warning: PORTFOLIO: traded from 2008-03-31, not 2008-01-01: sample has SPY from "
            "2008-01-02 and the first 60 sessions warm the signal up; one account trades from the "
            "first session every symbol is warm") in out


@pytest.mark.parametrize("rows", [61, 90, 120])
def test_a_csv_of_61_to_120_rows_is_refused_or_its_zero_explained_even_quiet(tmp_path, rows,
                                                                           capsys):
    """60 of the rows warm the signal up: 61 leave too little to trade, 62-120 trade a few
    sessions in which the signal may never call for a trade; -q keeps stdout to the
    results and says why on stderr."""
    (tmp_path / "FEW.csv").write_text(csv_rows(DAYS[:rows]))
    code = main(["backtest", "--source", "csv", "--csv", str(tmp_path), "--symbols", "FEW",
                 "--no-report", "-q"])
    captured = capsys.readouterr()
    if rows == 61:
        assert code == 2 and "60 sessions of warm-up" in captured.err
        return
    assert code == 0 and captured.out == "Results Summary:\nFEW: Return: 0.00%\n"
    assert f"warning: FEW: no order filled in {rows - 60} traded sessions" in captured.err
    assert "warning: FEW: traded from " in captured.err


@pytest.mark.parametrize("portfolio", [[], ["--portfolio"]])
def test_an_expiry_window_the_chain_never_lists_is_loudly_warned(portfolio, tmp_path, capsys):
    """No listed expiry is 400-500 days out: every order is rejected; the summary and
    metrics.json say so (only the data decides, so a warning, not a refusal)."""
    argv = [a for a in SPREADS if a not in ("--no-report", "-q")]
    report = tmp_path / "report"
    assert main([*argv, *portfolio, "--dte-min", "400", "--dte-max", "500",
                 "--report", str(report)]) == 0
    out = capsys.readouterr().out
    who = "PORTFOLIO" if portfolio else "SPY"
    assert f"warning: {who}: no order filled in " in out
    assert "order(s) rejected, the first: SPY: no expiry with 400-500 days to expiry" in out
    saved = json.loads((report / "metrics.json").read_text())
    warned = (saved["portfolio"] if portfolio else saved["symbols"]["SPY"])["warnings"]
    assert any("no expiry with 400-500 days" in w for w in warned)


def test_a_window_within_the_scoring_horizon_or_the_expiry_is_loudly_warned(capsys):
    assert main(["backtest", "--source", "sample", "--symbols", "SPY", "--start-date",
                 "2024-03-01", "--end-date", "2024-03-15", "--strategy", "credit-spread",
                 "--no-report"]) == 0
    out = capsys.readouterr().out
    assert "2024-03-01..2024-03-15," in out and "requested" not in out
    assert "warning: SPY: only 11 traded sessions, not more than the 20-session horizon" in out
    assert "a Sharpe ratio or annual return of so few sessions means little" in out
    assert "warning: SPY: the window spans 14 days, fewer than --dte-min 30" in out


def test_a_two_session_window_spans_one_day_in_the_warning(capsys):
    """Two consecutive sessions are one calendar day apart: '1 day', not '1 days'."""
    assert main(["backtest", "--source", "sample", "--symbols", "SPY", "--start-date",
                 "2025-12-30", "--end-date", "2025-12-31", "--strategy", "credit-spread",
                 "--no-report"]) == 0
    assert ("warning: SPY: the window spans 1 day, fewer than --dte-min 30"
            in capsys.readouterr().out)


@pytest.mark.parametrize("portfolio", [[], ["--portfolio"]])
def test_a_width_off_the_strike_grid_is_refused_not_a_silent_zero(portfolio, capsys):
    """The sample SPY near 630 lists strikes every 5: a width of 3 could never be filled."""
    assert main([*SPREADS, *portfolio, "--width", "3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: SPY: --width 3 does not fit the option chain")
    assert "strikes are listed every 5; use a multiple of 5" in err


@pytest.mark.parametrize("portfolio", [[], ["--portfolio"]])
def test_an_account_too_small_for_the_default_width_is_refused(portfolio, capsys):
    """Without --width the width is one strike step at the first traded session (5 near
    the sample SPY's 470): 2 % of 1,000 is 20, less than one contract's full width of 500."""
    assert main([*SPREADS, *portfolio, "--cash", "1000"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: SPY: --risk-per-trade 0.02 of 1,000.00 cash is 20.00, less "
                          "than one contract's full width at the default width 5 (500.00, what "
                          "a spread is sized on): no spread can ever be sized")


@pytest.mark.parametrize("portfolio", [[], ["--portfolio"]])
def test_an_account_too_small_is_refused_before_a_model_is_trained(portfolio, monkeypatch,
                                                                   capsys):
    """With ``--signals ml`` the account check came after each symbol's model was trained
    (minutes of work for a run that could never size a spread); it comes first now."""
    import cli.backtest

    def trained(*args, **kwargs):
        raise AssertionError("a model was trained before the account was checked")

    monkeypatch.setattr(cli.backtest, "ml_models", trained)
    assert main([*SPREADS, *portfolio, "--signals", "ml", "--cash", "1000"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: SPY: --risk-per-trade 0.02 of 1,000.00 cash is 20.00, less "
                          "than one contract's full width at the default width 5 ")


def test_a_symbol_and_its_alias_are_refused_as_one_symbol_twice(capsys):
    assert main(["backtest", "--source", "bundled", "--symbols", "sp500,SPX", "--no-report",
                 "-q"]) == 2
    assert "error: SP500 and SPX both name SP500; give it once" in capsys.readouterr().err


@pytest.mark.parametrize("flags, why", [
    (["--commission", "0.1"], "order(s) rejected, the first: SPY: buy of "),
    (["--cash", "100"], "sized to nothing, the first: SPY: 95% of the account "
                        "(95.00) is less than one share at "),
])
def test_equity_orders_that_cannot_fill_say_why_the_run_is_idle(flags, why, capsys):
    """A 10 % commission makes every buy of 95 % of the account cost more than the cash
    (backtrader's broker answers Margin); 100 dollars buys no whole share of a 470 SPY."""
    year = ["--start-date", "2024-01-02", "--end-date", "2024-12-31"]
    assert main([*SAMPLE, *year, *flags]) == 0
    captured = capsys.readouterr()
    assert captured.out == "Results Summary:\nSPY: Return: 0.00%\n"
    assert "warning: SPY: no order filled in " in captured.err
    assert why in captured.err
    if flags[0] == "--commission":
        assert "not enough cash for the shares and the commission (status Margin)" in captured.err


def test_calls_that_open_nothing_say_why_the_run_is_idle(capsys):
    """A long-only strategy shown SELL calls, and BUY calls under --min-confidence, trades
    nothing: the warning counts the sessions of each reason, the most first."""
    year = ["--start-date", "2024-01-02", "--end-date", "2024-12-31"]
    assert main([*SAMPLE, *year, "--min-confidence", "1"]) == 0
    err = capsys.readouterr().err
    found = re.search(r"a call opened nothing on (\d+) sessions: (\d+) SELL while flat "
                      r"\(shorting is off: --allow-short\), (\d+) BUY below "
                      r"--min-confidence 1$", err.strip())
    assert found, err
    total, sells, buys = map(int, found.groups())
    assert total == sells + buys and sells >= buys > 0


def test_a_return_with_no_closed_trade_says_it_is_an_open_position(capsys):
    """A short opened on the first session and held: 0 trades beside a non-zero return."""
    assert main([*SAMPLE, "--start-date", "2024-01-02", "--end-date", "2024-03-15",
                 "--allow-short"]) == 0
    captured = capsys.readouterr()
    returned = re.search(r"SPY: Return: (-?[\d.]+)%", captured.out).group(1)
    assert float(returned) != 0
    assert (f"warning: SPY: no trade closed: the {returned}% return comes from 1 short "
            "position still open at the end (entered 2024-01-03)") in captured.err


@pytest.mark.parametrize("portfolio", [[], ["--portfolio"]])
def test_a_symbol_with_more_data_than_the_common_end_is_told_what_it_did_not_trade(
        portfolio, tmp_path, capsys):
    """Without --end-date the run ends at the last bar every file has: LONG's last 20
    sessions are not traded, and the run says so (a silent cut looks like its whole file)."""
    (tmp_path / "LONG.csv").write_text(csv_rows(DAYS))
    (tmp_path / "SHORT.csv").write_text(csv_rows(DAYS[:100]))
    assert main(["backtest", "--source", "csv", "--csv", str(tmp_path), "--no-report",
                 *portfolio]) == 0
    out = capsys.readouterr().out
    who = "PORTFOLIO: LONG" if portfolio else "LONG"
    assert (f"warning: {who}: traded until {DAYS[99]:%Y-%m-%d}, the last bar every symbol "
            f"of the run has, not its own last bar {DAYS[-1]:%Y-%m-%d}") in out
    assert "SHORT: traded until" not in out
    # with --end-date the window is the user's: nothing to say
    assert main(["backtest", "--source", "csv", "--csv", str(tmp_path), "--no-report",
                 "--end-date", f"{DAYS[99]:%Y-%m-%d}", *portfolio]) == 0
    assert "the last bar every symbol" not in capsys.readouterr().out


def test_a_window_outside_the_data_names_dates_not_none_or_midnight(capsys):
    assert main(["backtest", "--source", "sample", "--symbols", "SPY", "--start-date",
                 "2000-01-03", "--end-date", "2001-01-02", "--no-report", "-q"]) == 2
    err = capsys.readouterr().err
    assert "sample market has no SPY bars up to 2001-01-02; it covers 2008-01-02.." in err
    assert "None" not in err and "00:00" not in err
    assert main(["backtest", "--source", "sample", "--symbols", "SPY", "--start-date",
                 "2024-01-06", "--end-date", "2024-01-07", "--no-report", "-q"]) == 2
    assert ("fewer than 2 bars between 2024-01-06 and 2024-01-07; up to 2024-01-07, sample "
            "has SPY from 2008-01-02 to 2024-01-05") in capsys.readouterr().err


def test_rejected_orders_are_counted_in_the_warnings():
    from engine.backtest import rejection_warnings

    assert rejection_warnings([]) == []
    assert rejection_warnings(["SPY: no chain", "SPY: margin"]) == [
        "2 order(s) rejected, the first: SPY: no chain"]


@pytest.mark.parametrize("portfolio", [[], ["--portfolio"]])
def test_a_hit_rate_over_a_handful_of_calls_is_warned(portfolio, capsys):
    """25 sessions leave 5 whose 20-session future is in the window: a hit rate of 5 calls
    is printed, and said to be an anecdote (per symbol in a portfolio's attribution)."""
    assert main(["backtest", "--source", "sample", "--symbols", "SPY", "--start-date",
                 "2024-03-01", "--end-date", "2024-04-05", "--no-report", *portfolio]) == 0
    out = capsys.readouterr().out
    who = "PORTFOLIO: SPY" if portfolio else "SPY"
    assert (f"warning: {who}: the hit rate is scored on only 5 BUY/SELL calls (the sessions "
            "whose 20-session future falls in the window)") in out


@pytest.mark.parametrize(("argv", "message"), [
    (["backtest", "--seed", "-1"], "argument --seed: expected a whole number from 0 to "),
    (["sweep", "--seed", "4294967296"], "argument --seed: expected a whole number from 0 to "),
    (["backtest", "--cash", "1e308"], "argument --cash: expected an amount above 0 and at most "),
    (["backtest", "--cache-dir", ""], "argument --cache-dir: expected a path, got an empty one"),
    (["train", "--store-label", "../../elsewhere"],
     "argument --store-label/--mode: expected one folder name"),
    (["train", "--seeds", "0"], "argument --seeds: expected a whole number of at least 1"),
    (["paper", "--backfill", "1Y"], "argument --backfill: expected an IB duration"),
])
def test_values_that_can_never_work_are_refused_by_the_parser(argv, message, capsys):
    """A negative seed (numpy's traceback), cash that overflows the sizing, an empty path
    (silently the current folder), a store label that leaves the store, ...: exit 2 with
    the option named, before any work."""
    with pytest.raises(SystemExit) as stop:
        run.main(argv)
    assert stop.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("command", [["train", "--save"], ["premarket", "--symbols", "MSFT"]])
def test_a_model_store_that_is_a_file_is_refused_before_training(command, tmp_path, capsys,
                                                                 no_data_work):
    store = tmp_path / "store"
    store.write_text("not a folder")
    assert main([*command, "--models-dir", str(store)]) == 2
    assert f"error: --models-dir {store} is a file, not a folder" in capsys.readouterr().err


def test_a_credit_spread_run_that_stops_sizing_entries_says_so(capsys):
    """An account that shrinks below one contract's max loss (2 % of 25,100 is just above
    a 5-wide spread's 500) trades a few spreads, then nothing for months: said, with the
    count, the first and the last skipped entry."""
    assert main(["backtest", "--source", "sample", "--symbols", "SPY", "--strategy",
                 "credit-spread", "--cash", "25100", "--width", "5", "--start-date",
                 "2023-01-03", "--end-date", "2024-12-31", "--no-report"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^warning: SPY: \d+ entries sized to no contract and skipped, the first: "
                     r"SPY: no contract of a 5-wide spread fits the risk budget .* on "
                     r"2023-\d\d-\d\d; the last on 2024-12-31$", out, re.MULTILINE)


def test_a_signal_without_a_call_to_score_is_warned():
    from types import SimpleNamespace

    from engine.backtest import horizon_warnings

    result = SimpleNamespace(returns=pd.Series(0.0, index=pd.bdate_range("2024-01-02", periods=30)),
                             metrics={"signal_calls": 0})
    assert horizon_warnings(None, result) == [
        "the signal made no BUY/SELL call on the sessions whose 20-session future falls in "
        "the window: no hit rate"]
    assert horizon_warnings(None, SimpleNamespace(returns=result.returns, metrics={})) == []


@pytest.mark.parametrize(("argv", "message"), [
    # given at its default value, still meaningless for the run: refused, not ignored
    (["backtest", "--strategy", "equity", "--target-delta", "0.3"],
     "--target-delta applies only with --strategy credit-spread"),
    (["backtest", "--strategy", "credit-spread", "--commission", "0.0005"],
     "--commission applies only with --strategy equity"),
    (["backtest", "--strategy", "equity", "--target-d", "0.3"],  # argparse's abbreviation
     "--target-delta applies only with --strategy credit-spread"),
    (["sweep", "--strategy", "credit-spread", "--commission=0.5"],
     "--commission applies only with --strategy equity"),
    (["sweep", "--strategy", "equity", "--option-fill", "mid"],
     "--option-fill applies only with --strategy credit-spread"),
    (["backtest", "--strategy", "equity", "--option-slippage", "0"],
     "--option-slippage applies only with --strategy credit-spread"),
    (["sweep", "--cluster", "serial", "--workers", "64"],
     "--workers applies only with --cluster local"),
    (["sweep", "--head", "lstm"], "--head applies only with --signals ml"),
    (["ml-trading", "-m", "trading", "--allow-short"],
     "--allow-short applies only with --mode backtest"),
    (["ml-trading", "-m", "premarket", "--start-date", "2025-01-02"],
     "--start-date applies only with --mode backtest"),
    (["trading", "--ib-port", "4002"], "--ib-port applies only with --source ib"),
    (["backtest", "--strategy", "credit-spread", "--skip-regimes", "3+4"],
     "--skip-regimes needs --signals ml: the rule signal has no regime line"),
    (["paper", "--strategy", "credit-spread", "--skip-regimes", "3+4"],  # before connecting
     "--skip-regimes needs --signals ml: the rule signal has no regime line"),
])
def test_an_option_the_run_would_ignore_is_refused_whatever_its_value(argv, message, capsys,
                                                                      no_data_work):
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith(f"error: {message}")


def test_premarket_offers_no_ib_options(capsys):
    with pytest.raises(SystemExit):
        run.main(["premarket", "--help"])
    assert "--ib-port" not in capsys.readouterr().out
    assert main(["premarket", "--history-source", "bundled"]) == 2


def test_a_folder_named_like_a_csv_file_is_an_error_naming_it(tmp_path, capsys):
    (tmp_path / "QQQ.csv").mkdir()
    (tmp_path / "SPY.csv").write_text(csv_rows(DAYS))
    assert main(["backtest", "--source", "csv", "--csv", str(tmp_path), "--symbols", "QQQ",
                 "--no-report", "-q"]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'QQQ.csv'}: not a file (a folder, or a link to nothing)" in err


def test_a_file_where_a_folder_belongs_is_an_error_naming_it(tmp_path, capsys):
    """A file in the cache's, the model store's or a sweep's results store's way: an error
    naming it (tracebacks before; the store's after the whole training)."""
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "sample").write_text("x")
    assert main([*SAMPLE, "--cache-dir", str(cache)]) == 2
    assert f"{cache / 'sample'} is a file; move it out of the cache folder" in \
        capsys.readouterr().err
    store = tmp_path / "store"
    (store / "lstm_poc").mkdir(parents=True)
    (store / "lstm_poc" / "SPY").write_text("x")
    assert main(["train", "--symbol", "SPY", "--source", "sample", "--save", "--folds", "0",
                 "--models-dir", str(store), "-q"]) == 2
    assert f"--models-dir {store / 'lstm_poc' / 'SPY'} is a file" in capsys.readouterr().err
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "runs").write_text("x")
    assert main(["sweep", "--cluster", "serial", "--report", str(sweep), "-q"]) == 2
    assert f"--report {sweep / 'runs'} is a file" in capsys.readouterr().err
