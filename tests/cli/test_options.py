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


def test_every_source_a_command_offers_is_explained_in_its_help():
    """``--source`` lists its choices; its help says what each is, or refers to the
    command that does (backtest's listed neither sample-noedge nor what it is)."""
    unexplained = {}
    for command, parser in _parsers(build_parser()):
        for action in parser._actions:
            if action.dest not in ("source", "history_source") or not action.choices:
                continue
            text = action.help or ""
            if "as for backtest" in text or "as --source" in text:
                continue
            missing = [c for c in action.choices
                       if not re.search(rf"(?<![\w-]){re.escape(c)}(?![\w-])", text)]
            if missing:
                unexplained[f"{command} {action.option_strings[0]}"] = missing
    assert unexplained == {}
