"""The one entry point: ``python run.py COMMAND ...`` (``--help`` on each command).

Everything lives in ``cli/``; this file only hands it the command line.
"""

import sys

from cli.main import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
