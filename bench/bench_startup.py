"""Seconds from a command's start to its exit, in fresh interpreters, and which heavy
libraries each loaded (a user waits for this before any work, and for ``--help``).

Each command runs ``--repeats`` times in a new process (best and median wall seconds);
then once more to list which of the heavy libraries (scikit-learn, hmmlearn, scipy.stats,
TensorFlow, matplotlib, pyfolio, ...) it imported. A command imports them only where it
uses them (``tests/cli/test_startup.py``).

Usage: python bench/bench_startup.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: packages no command needs to start, nor a rule backtest without a report
HEAVY = ("sklearn", "hmmlearn", "scipy.stats", "scipy.optimize", "tensorflow", "keras",
         "xgboost", "matplotlib", "pyfolio", "statsmodels", "seaborn")
COMMANDS = {
    "run.py --help": ["--help"],
    "run.py backtest --help": ["backtest", "--help"],
    "run.py backtest --no-report (default symbols)": ["backtest", "--no-report", "-q"],
}


def run_once(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "run.py", *argv], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def loaded_after(code: str) -> set[str]:
    """The HEAVY packages a fresh interpreter has loaded after running ``code`` in the
    repository root (``tests/cli/test_startup.py`` asks this too)."""
    probe = (f"import json, sys\n{code}\n"
             f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=True)
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def loaded(argv: list[str]) -> list[str]:
    """The HEAVY libraries the command has imported when it ends (``--help`` exits
    through SystemExit, which the probe catches), in HEAVY's order."""
    found = loaded_after(f"import run\ntry:\n    run.main({argv!r})\n"
                         "except SystemExit:\n    pass")
    return [m for m in HEAVY if m in found]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"wall seconds of a fresh process, best and median of {args.repeats}")
    for name, argv in COMMANDS.items():
        times = [run_once(argv) for _ in range(args.repeats)]
        heavy = ", ".join(loaded(argv)) or "none"
        print(f"{name:<48} best {min(times):5.2f}  median {statistics.median(times):5.2f}"
              f"  heavy libraries loaded: {heavy}")


if __name__ == "__main__":
    main()
