"""``python run.py train``: seed 000's training run, walk-forward evaluated, saved to the store.

Trains the HMM on a long history and the LSTM on recent years of one symbol, evaluates the
LSTM walk-forward against baselines (majority class, the rule signal, a logistic
regression, the true-regime oracle and perfect foresight where the source knows the truth)
in ``--folds`` equal blocks or blocks of ``--refit-every`` sessions, on an expanding or
rolling ``--window``, over ``--seeds`` network seeds (mean +- std per cell), fits the final
model on everything up to ``--end-date``, writes the score table, a reliability diagram
and the plots (returns vs market from the out-of-sample predictions only) and, with
``--save``, stores it under ``Trained_Models/<store-label>/<SYMBOL>/`` (``--mode`` is seed
000's spelling of ``--store-label`` and still works here). See docs/models/evaluation.md.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd

from cli import options
from cli.arg_types import count_arg, date_arg, positive_int_arg, symbol_arg
from core.atomic import staged_folder
from core.csv_format import CSV_FLOAT_FORMAT
from core.domain import REGIME_NAMES

#: the files every training report has: a folder with them may be replaced by a new one
TRAIN_REPORT_FILES = ("index.html", "training_summary.json")


def register(commands) -> None:
    p = commands.add_parser(
        "train", help="train the HMM regime + strategy model (regime or LSTM head) for one symbol",
        description="Train seed 000's models (HMM regimes on a long history, the strategy "
                    "signal on recent years), evaluate them walk-forward against baselines, "
                    "write plots and optionally save them to the model store.",
        formatter_class=options.HelpFormatter)
    # one symbol, SPY by default: seed 000's `--symbol SYMBOL (default: SPY)`
    p.add_argument("--symbol", default="SPY", type=symbol_arg, help="symbol to train on")
    p.add_argument("-s", "--save", action="store_true",
                   help="save to <models-dir>/<store-label>/<SYMBOL>/<timestamp>/ and latest/")
    options.add_store_label_option(p, mode_alias=True)
    options.add_models_dir_option(p)
    options.add_source_options(
        p, help="market source, as for backtest (auto: bundled when it has the symbol, "
                "else sample)")
    options.add_window_options(
        p, start=None, end="last bar of training data (default: the source's last bar)")
    p.add_argument("--hmm-start", type=date_arg,
                   help="first bar of the HMM history (default: 12 years before the end)")
    p.add_argument("--lstm-start", type=date_arg,
                   help="first labelled bar of the LSTM (default: 4 years before the end)")
    options.add_model_config_options(p)
    p.add_argument("--folds", type=count_arg, default=2,
                   help="walk-forward folds over the last third of the LSTM history "
                        "(0 skips the evaluation)")
    p.add_argument("--seeds", type=positive_int_arg, default=1,
                   help="walk-forward evaluations with this many network seeds (from the "
                        "config's seed up); the report gives mean +- std per cell")
    options.add_refit_options(p)
    options.add_report_option(p, "folder for plots and metrics (default reports/train_<SYMBOL>)")
    options.add_verbosity_options(p)
    p.set_defaults(handler=run_train_command)


def run_train_command(args) -> int:
    from analyzers import model_plots as plots
    from core.errors import DataError
    from feeds.cache import ParquetCache
    from models.refit import fold_regimes
    from models.store import save_models
    from models.strategy_model import REGIME_COLUMNS
    from training.label_cache import LABEL_VERSION
    from training.pipeline import training_data

    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr))
    options.check_report_folder(args.report, TRAIN_REPORT_FILES, "a training report")
    if args.save:
        options.check_output_path(args.models_dir, "--models-dir", folder=True)
    if args.refit_every is not None and "folds" in getattr(args, "given_options", ()):
        raise DataError("--folds and --refit-every both set the walk-forward blocks (equal "
                        "blocks, or blocks of N sessions): give one")
    if args.train_years is not None and args.window != "rolling":
        raise DataError("--train-years is the length of a rolling window: add --window rolling")
    spec = options.training_spec(args, args.hmm_start, args.lstm_start)  # before any data
    cache = ParquetCache(args.cache_dir)
    source, source_name, reason = options.source_from_args(args, [args.symbol], cache)
    if reason:
        say(f"source: {source_name} ({reason})")
    symbol = source.check_symbol(args.symbol)
    if args.save:  # a file in the store's way: refused now, not after the training
        options.check_output_path(args.models_dir / args.store_label / symbol, "--models-dir",
                                  folder=True)
    if args.verbose:
        spec = replace(spec, lstm=replace(spec.lstm, verbose=2))
    end = args.end_date or source.bars(symbol).index[-1]
    last = source.bars(symbol, None, end).index[-1]
    if end - last > pd.Timedelta(days=4):  # more than a weekend or a holiday
        print(f"warning: {symbol}: {source_name} has bars up to {last:%Y-%m-%d}; training "
              f"ends there, not at --end-date {end:%Y-%m-%d}", file=sys.stderr)
        end = last
    say(f"pricing labels for {symbol} up to {end:%Y-%m-%d} ...")
    data = training_data(source, symbol, end, spec, progress=not args.quiet, cache=cache)
    for line in start_cut_notes(symbol, source_name, data, spec, args):
        print(line, file=sys.stderr)
    final = args.report or Path("reports") / f"train_{symbol}"
    # written beside and swapped in whole: no plot of an earlier run stays in it
    with staged_folder(final, TRAIN_REPORT_FILES) as folder:
        summary = {"symbol": symbol, "source": source_name, "end": f"{end:%Y-%m-%d}"}
        if args.folds > 0:
            report = evaluate(args, spec, data, folder, summary, say)
            name = report.model_name
            plots.plot_confusion(report.overall_confusion, folder / "confusion_matrix.png",
                                 f"{name} model, walk-forward out of sample")
            plots.plot_reliability(report.predictions, folder / "reliability.png")
            plots.plot_signal_timeline(report.predictions, data.bars["close"].reindex(
                report.predictions.index), folder / "signal_distribution.png", column=name)
            returns = plots.signal_returns(report.predictions, data.bars["close"])
            returns.to_csv(folder / "returns_vs_market.csv", float_format=CSV_FLOAT_FORMAT)
            plots.plot_returns_vs_market(returns, folder / "returns_vs_market.png", symbol)
            summary["returns_vs_market"] = {
                column: float((1.0 + returns[column]).prod() - 1.0)
                for column in (name, "rule", "market") if column in returns}
            last = report.models[-1]
            folds = report.folds
            importance = last.permutation_importance(data.bars, data.labels, folds[-1].test_start)
            importance.to_csv(folder / "feature_importance.csv", index_label="feature",
                              float_format=CSV_FLOAT_FORMAT)
            plots.plot_feature_importance(importance, folder / "feature_importance.png")
        say("fitting the final model on all history ...")
        model = spec.make_model()
        # the HMM continues the last walk-forward fold's (EM from its parameters, states keep
        # their names), as each fold continued the one before: what the evaluation scored
        previous = report.models[-1].hmm_ if args.folds > 0 else None
        model.fit(data.bars, data.labels, hmm_bars=data.hmm_bars,
                  hmm=fold_regimes(model, data.bars, data.hmm_bars, previous=previous,
                                   final=True))
        if model.report_.history:  # an LSTM's epochs (the regime head has none)
            plots.plot_training_history(model.report_.history, folder / "training_history.png")
        regimes = model.model_inputs(data.bars)[list(REGIME_COLUMNS)].dropna()  # no head needed
        plots.plot_market_states(data.bars["close"].loc[regimes.index],
                                 pd.Series(regimes.to_numpy().argmax(axis=1), index=regimes.index),
                                 folder / "market_states.png")
        summary["final"] = {"train_start": f"{model.report_.train_start:%Y-%m-%d}",
                            "train_end": f"{model.report_.train_end:%Y-%m-%d}",
                            "samples": model.report_.n_train, "purged": model.report_.n_purged,
                            "head": model.name,
                            # the codes of regime lines, spreads.csv and --skip-regimes
                            "regime_names": list(REGIME_NAMES),
                            # the HMM's states in its own order (state i is named so)
                            "hmm_state_names": list(model.hmm_.state_names_),
                            "hmm": ("continued from the last walk-forward fold's" if previous
                                    else "fitted afresh")}
        if args.save:
            from feeds.sources import GENERATED_SOURCES

            saved = save_models(model, args.models_dir, args.store_label, symbol,
                                metadata={"walk_forward": summary.get("walk_forward"),
                                          "source": source_name,
                                          # the labels its expected returns learned from
                                          "label_version": LABEL_VERSION,
                                          # a simulated market is its seed
                                          **({"seed": args.seed}
                                             if source_name in GENERATED_SOURCES else {})},
                                training_bars=data.bars)
            summary["saved_to"] = str(saved)
            print(f"Model saved to {saved} (and {saved.parent / 'latest'})")
        (folder / "training_summary.json").write_text(json.dumps(summary, indent=2, default=str))
        scores = (folder / "scores.txt").read_text() if args.folds > 0 else ""
        plots.write_training_page(folder, f"Training report: {symbol}", scores)
    print(f"Training report written to {final}/ (open {final}/index.html)")
    return 0


def start_cut_notes(symbol: str, source_name: str, data, spec, args) -> list[str]:
    """A history asked to start before the data does (``--hmm-start``/``--lstm-start``, or
    the defaults' years back) is cut to the first bar: said, with how long the HMM's
    history then is (a short one fits regimes of few episodes)."""
    from training.pipeline import HMM_YEARS, training_starts

    lstm_start, hmm_start = training_starts(data.bars.index[-1], spec)
    first = data.hmm_bars.index[0]
    if first - hmm_start <= pd.Timedelta(days=7):
        return []
    asked = (f"--hmm-start {hmm_start:%Y-%m-%d}" if args.hmm_start else
             f"{HMM_YEARS} years back, {hmm_start:%Y-%m-%d}")
    years = (data.hmm_bars.index[-1] - first).days / 365.25
    lines = [f"warning: {symbol}: {source_name} has bars from {first:%Y-%m-%d}: the HMM trains "
             f"on {years:.1f} years from there, not from {asked}"]
    if lstm_start < first:
        lines.append(f"warning: {symbol}: the strategy model's history starts after its "
                     f"warm-up from {first:%Y-%m-%d}, not at {lstm_start:%Y-%m-%d}")
    return lines


def evaluation_folds(args, index: pd.DatetimeIndex, first_test: pd.Timestamp,
                     embargo: int) -> list:
    """``--folds`` equal test blocks from ``first_test``, or blocks of ``--refit-every``
    sessions; training windows per ``--window`` / ``--train-years``."""
    from core.domain import TRADING_DAYS
    from models.folds import make_folds, refit_folds
    from training.pipeline import LSTM_YEARS

    years = LSTM_YEARS if args.train_years is None else args.train_years
    train_bars = max(int(round(years * TRADING_DAYS)), 1)
    if args.refit_every is not None:
        return refit_folds(index, first_test, args.refit_every, embargo, args.window,
                           train_bars)
    return make_folds(index, first_test, args.folds, embargo, args.window, train_bars)


def replace_folds(args, n: int):
    """``args`` with ``--folds n`` (and no ``--refit-every``)."""
    import argparse

    return argparse.Namespace(**{**vars(args), "folds": n, "refit_every": None})


def check_folds(args, folds: list, labelled: pd.DatetimeIndex, folds_for) -> None:
    """Refuse, before any model is trained, folds whose test block holds too few labelled
    sessions (a spread's label needs the sessions to its exit, so the last ones have none)
    or that the sessions cannot make (more folds than sessions): their scores would be
    empty. ``folds_for(n)`` makes ``n`` equal folds, to say how many would work."""
    from core.errors import DataError
    from models.strategy_model import MIN_IMPORTANCE_BARS

    def empty(candidate: list) -> list:
        """The folds whose test block has fewer labelled sessions than the scores and the
        feature importance (measured on the last block) need."""
        return [f for f in candidate if ((labelled >= f.test_start)
                                         & (labelled <= f.test_end)).sum() < MIN_IMPORTANCE_BARS]

    tested = int((labelled >= folds[0].test_start).sum()) if folds else 0
    if args.refit_every is not None:
        if empty(folds):
            raise DataError(f"--refit-every {args.refit_every}: blocks of {args.refit_every} "
                            f"sessions leave some (the first from "
                            f"{empty(folds)[0].test_start:%Y-%m-%d}) with fewer than "
                            f"{MIN_IMPORTANCE_BARS} labelled sessions (a label needs the "
                            f"sessions up to its spread's exit); use a larger N")
        return
    if len(folds) == args.folds and not empty(folds):
        return
    most = next((n for n in range(min(args.folds, tested), 0, -1)
                 if len(folds_for(n)) == n and not empty(folds_for(n))), 0)
    raise DataError(f"--folds {args.folds}: the last third of the history has {tested} "
                    f"labelled sessions, and {args.folds} test blocks would leave some with "
                    f"fewer than {MIN_IMPORTANCE_BARS}; use at most {most}")


def evaluate(args, spec, data, folder: Path, summary: dict, say):
    """Walk-forward over ``--seeds`` seeds; writes the score tables and fills ``summary``."""
    from core.errors import DataError
    from training.evaluation import evaluate_seeds, format_scores

    labelled = data.labels.index[data.labels["label"].notna()]
    if not len(labelled):  # a label needs the sessions up to its spread's exit
        blocks = (f"--refit-every {args.refit_every}" if args.refit_every is not None
                  else f"--folds {args.folds}")
        raise DataError(f"{blocks}: no session up to {data.bars.index[-1]:%Y-%m-%d} has a "
                        f"label to score the walk-forward on ({len(data.bars)} bars; a label "
                        "needs the sessions up to its spread's exit): give a longer history, "
                        "or --folds 0 to skip the evaluation")
    first_test = labelled[int(len(labelled) * 2 / 3)]
    folds = evaluation_folds(args, data.bars.index, first_test, spec.embargo)
    check_folds(args, folds, labelled, lambda n: evaluation_folds(
        replace_folds(args, n), data.bars.index, first_test, spec.embargo))
    report = evaluate_seeds(data, spec, folds, args.seeds, progress=not args.quiet)
    report.table.to_csv(folder / "walk_forward.csv", index=False, float_format=CSV_FLOAT_FORMAT)
    report.predictions.to_csv(folder / "predictions.csv", float_format=CSV_FLOAT_FORMAT)
    report.mean.to_csv(folder / "scores.csv", index_label="predictor",
                       float_format=CSV_FLOAT_FORMAT)
    report.std.to_csv(folder / "scores_std.csv", index_label="predictor",
                      float_format=CSV_FLOAT_FORMAT)
    summary.update(report.summary())
    text = format_scores(report)
    (folder / "scores.txt").write_text(text + "\n")
    print(text)  # the result of the run: stdout, also with -q (notes go to stderr)
    return report
