"""The shared option helpers of the commands (``cli.options``): what ``--help`` shows."""

from __future__ import annotations

import argparse
import re

from cli.main import build_parser


def _parsers(parser: argparse.ArgumentParser, path: str = "run.py"):
    """Every parser of the command tree with its command line, the top one first."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def test_no_help_shows_an_empty_default():
    """A default that means "not given" is not printed: ``paper --help`` read
    '--account ACCOUNT  managed account (needed when several) (default: )', and backtest's
    and paper's '--skip-regimes R+R ... (default: ())' a Python tuple."""
    empty = re.compile(r"\(default: (\(\)|None|False|)\)")
    shown = {command: empty.findall(re.sub(r"\s+", " ", parser.format_help()))
             for command, parser in _parsers(build_parser())}
    assert {command: found for command, found in shown.items() if found} == {}
