"""A multi-day soak of ``run.py paper``'s loop on the fake TWS, accelerated.

Replays five sessions (2024-03-06 .. 2024-03-12, across the DST change) as 23,400 5-second
bars with three connection drops mid-order, a 1100/1101 outage and an early assignment
(``tests/fakes/paper_soak.py`` says exactly what happens), then checks that the journal,
the broker and the fake's ledger agree exactly and that no order was sent twice. Prints the
figures (bars, orders, fills, reconnects, max RSS); exit status 1 when anything disagrees,
ib_async logged an unexpected error or the peak RSS passed ``--max-rss-mb``.

Usage: python bench/soak_paper.py [--max-rss-mb 400] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.paper_soak import soak  # noqa: E402

#: the peak RSS the soak must stay under (the whole process: the paper loop, the fake TWS,
#: pandas and the sample market; about 185 MiB measured), MiB
MAX_RSS_MB = 400


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-rss-mb", type=float, default=MAX_RSS_MB)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        figures = soak(Path(folder) / "journal.sqlite")
    figures["max_rss_bound_mb"] = args.max_rss_mb
    for key, value in figures.items():
        print(f"{key}: {value}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    ok = (not figures["mismatches"] and not figures["log_problems"]
          and figures["max_rss_mb"] < args.max_rss_mb)
    print("soak: OK" if ok else "soak: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
