"""The command line: one sub-command per module of ``cli/``, each registering itself through
``register(commands)`` (its sub-parser, with ``handler`` set to a function of the parsed
args that returns the exit code). ``DataError`` from any handler becomes ``error: ...`` and
exit code 2."""

from __future__ import annotations

import argparse
import logging
import sys

from cli import backtest, data, ml_trading, paper, sweep, train
from cli.options import refuse_unused
from core.errors import DataError

#: the order of ``run.py --help``
COMMANDS = (backtest, data, train, paper, ml_trading, sweep)


class Parser(argparse.ArgumentParser):
    """argparse's parser whose refusal is one ``error:`` line naming the command and where
    its options are listed, not the whole usage block above it (exit code 2 as before)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (`python {self.prog} --help` lists "
                     f"the options)\n")

    def parse_args(self, args=None, namespace=None):
        """As argparse's, but an option the command does not have is refused naming the
        command's own help (argparse leaves that refusal to the top parser)."""
        argv = list(sys.argv[1:] if args is None else args)
        parsed, extras = self.parse_known_args(argv, namespace)
        # the options as typed (``--x=1``, an abbreviation): ``refuse_unused`` refuses an
        # option given where it means nothing even when its value is the default
        parsed.given_options = self._given_dests(argv, getattr(parsed, "command", None))
        if extras:
            command = getattr(parsed, "command", None)
            where = f"{self.prog} {command}" if command else self.prog
            hint = self._close_options(extras, command)
            self.exit(2, f"{where}: error: unrecognized arguments: {' '.join(extras)}{hint} "
                         f"(`python {where} --help` lists the options)\n")
        return parsed

    def _close_options(self, extras: list[str], command: str | None) -> str:
        """``; did you mean --models-dir?`` for an unknown option spelled like one the
        command has (a typo, a singular for a plural), else nothing."""
        import difflib

        parser = self
        if command and self._subparsers is not None:
            parser = self._subparsers._group_actions[0].choices.get(command, self)
        options = [o for o in parser._option_string_actions if o.startswith("--")]
        hints = []
        for token in extras:
            name = token.split("=", 1)[0]
            if name.startswith("--"):
                hints += difflib.get_close_matches(name, options, n=1, cutoff=0.75)
        return f"; did you mean {', '.join(dict.fromkeys(hints))}?" if hints else ""

    def _given_dests(self, argv: list[str], command: str | None) -> set[str]:
        """The destinations of the options named in ``argv``, resolved as argparse resolves
        them (an exact spelling first, else the one option a prefix abbreviates) by the
        parser of ``command`` (this one without a command)."""
        parser = self
        if command and self._subparsers is not None:
            parser = self._subparsers._group_actions[0].choices.get(command, self)
        known = parser._option_string_actions
        dests = set()
        for token in argv:
            name = token.split("=", 1)[0]
            if not name.startswith("-") or len(name) < 2:
                continue
            action = known.get(name)
            if action is None and name.startswith("--"):
                matches = {a for option, a in known.items() if option.startswith(name)}
                action = matches.pop() if len(matches) == 1 else None
            if action is not None:
                dests.add(action.dest)
        return dests


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="run.py",
        description="ML-driven options and equity trading on backtrader.",
        epilog="Example: python run.py backtest --symbols SPY,QQQ --source sample "
               "--start-date 2024-01-01 --end-date 2025-06-30",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(commands)
    return parser


#: libraries whose debug lines say nothing about a run (a font looked up, a PNG chunk
#: read): kept at INFO under -v, so the run's own debug lines are not buried
CHATTY_LOGGERS = ("matplotlib", "PIL", "h5py", "asyncio")


#: loggers whose warnings are a user's business, printed as the project's ``warning: ...``
#: lines (a cache file rebuilt, the regime classifier's HMM that did not converge), not as
#: ``WARNING feeds.cache: ...`` log records
PLAIN_WARNING_LOGGERS = ("feeds.cache", "models.regimes")


class PlainWarnings(logging.Formatter):
    """``warning: MESSAGE`` for a WARNING of ``PLAIN_WARNING_LOGGERS``, as every other
    warning of a command reads; other records in the log's ``LEVEL name: message``."""

    def __init__(self):
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if (record.levelno == logging.WARNING
                and record.name.startswith(PLAIN_WARNING_LOGGERS)):
            return f"warning: {record.getMessage()}"
        return super().format(record)


def configure_logging(verbose: bool, quiet: bool) -> None:
    """WARNING by default; -v: DEBUG (ib_async, httpx, ours) without the chatty libraries'
    debug lines; -q: results only, hmmlearn's own EM notes are not ours (the regime
    classifier says its HMM's in plain words, ``models.hmm_convergence``)."""
    handler = logging.StreamHandler()
    handler.setFormatter(PlainWarnings())
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        handlers=[handler])
    if verbose:
        for name in CHATTY_LOGGERS:
            logging.getLogger(name).setLevel(logging.INFO)
    if quiet:
        logging.getLogger("hmmlearn").setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    from feeds.secrets import refuse_key_flags

    refuse_key_flags(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    configure_logging(getattr(args, "verbose", False), getattr(args, "quiet", False))
    try:
        from feeds.secrets import load_dotenv_file

        load_dotenv_file()
        refuse_unused(args)  # an option the run would ignore, before any work
        return args.handler(args)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
