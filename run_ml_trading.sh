#!/usr/bin/env bash
# Seed 003's wrapper: run the ML trading modes (premarket, trading, backtest).
#
#   ./run_ml_trading.sh --symbols AAPL,MSFT,GOOGL --mode backtest
#   ./run_ml_trading.sh -m premarket
#   ./run_ml_trading.sh --mode backtest --start-date 2025-06-02 --end-date 2025-12-31
#
# Options (all passed on to `python run.py ml-trading`; see -h for every one):
#   -s, --symbols     comma-separated symbols (AAPL,MSFT,GOOGL,AMZN,TSLA)
#   -m, --mode        premarket, trading or backtest (backtest)
#   --start-date      first backtest session, YYYY-MM-DD (30 days before the end date)
#   --end-date        last session, YYYY-MM-DD (today, or the last bar the data has)
#   --source          auto, sample, bundled, csv, polygon; trading mode also ib (minute
#                     bars from TWS/Gateway: --ib-host, --ib-port, --client-id; on a slow
#                     link --connect-timeout, --request-timeout, --stall-after/-timeout)
#   -h, --help        every option, with its default
# API keys are read from the environment or .env (POLYGON_API_KEY, UNUSUAL_WHALES_API_KEY),
# never from the command line.
# Relative paths (--config, --report, ...) are read from the folder you run it in.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# The Makefile's install stamp (not bin/python) says whether the install finished, so a
# first run killed half-way is completed by the next one; when it is current this is instant.
if [ ! -f "$here/.venv/.installed" ]; then
    echo "setting up $here/.venv (first run, about 1.5 minutes) ..." >&2
fi
make -s -C "$here" install
exec "$here/.venv/bin/python" "$here/run.py" ml-trading "$@"
