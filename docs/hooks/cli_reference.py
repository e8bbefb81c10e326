"""mkdocs hook: the CLI reference, rendered from run.py's argparse parsers at build time.

``reference/cli.md`` holds the marker below; ``on_page_markdown`` replaces it with
``run.py --help`` and the ``--help`` of every sub-command (and sub-sub-command, such as
``data fetch``), each under its own heading. The page is the parsers' own text, so it
cannot drift from the code: a new flag or a changed default shows up at the next build.

argparse wraps help to the terminal width (``COLUMNS``); it is pinned here so the page is
the same on every machine.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path

#: the repository root: the checkout the docs describe comes first on the import path
ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- cli-reference -->"
COLUMNS = "100"


def subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    """The (name, parser) pairs of a parser's sub-commands, in registration order."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices.items())
    return []


def walk(parser: argparse.ArgumentParser,
         path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every parser of the tree, depth first: the top one, then each command and its actions."""
    yield path, parser
    for name, sub in subcommands(parser):
        yield from walk(sub, (*path, name))


def help_text(parser: argparse.ArgumentParser) -> str:
    """``parser.format_help()`` at a fixed width, whatever terminal the build runs in."""
    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = COLUMNS
    try:
        return parser.format_help().rstrip()
    finally:
        if before is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = before


def build_parser() -> argparse.ArgumentParser:
    """run.py's parser, imported from this checkout."""
    if str(ROOT) not in sys.path[:1]:
        sys.path.insert(0, str(ROOT))
    from cli.main import build_parser as build

    return build()


def render(parser: argparse.ArgumentParser | None = None) -> str:
    """Markdown for the whole command tree: one heading and one help block per command."""
    parser = parser or build_parser()
    blocks = []
    for path, sub in walk(parser):
        level = "#" * (2 + max(len(path) - 1, 0))
        title = " ".join(("run.py", *path))
        blocks.append(f"{level} `{title}`\n\n```text\n{help_text(sub)}\n```\n")
    return "\n".join(blocks)


def on_page_markdown(markdown: str, page, config, files) -> str:
    """mkdocs event: fill the marker of the page that has it."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, render())
