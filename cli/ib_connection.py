"""The TWS/Gateway connection options, declared once for every command that connects to
IB through ``brokers.ib_store.StoreSettings`` (``paper``; ``ml-trading`` / ``trading`` with
``--source ib``), and the ``StoreSettings`` they fill.

A slow or distant link needs the same waits raised whatever the command does over it, so
``--connect-timeout``, ``--request-timeout``, ``--stall-after`` and ``--stall-timeout`` are
spelled, defaulted, explained and refused here only. The values are checked by
``StoreSettings`` itself (``RULES``), so a command and a script that builds the store refuse
the same ones; here its refusal names the flag, before anything connects. What only one
command has (paper's ``--account``, ``--cancel-timeout``) it adds and passes itself.
"""

from __future__ import annotations

import argparse

from brokers.ib_store import StoreSettings
from cli.arg_types import count_arg, port_arg, positive_float_arg, seconds_arg
from cli.strategy_config import with_flags
from core.errors import DataError

#: StoreSettings fields set by a flag of the same name (``stall_after`` = ``--stall-after``)
WAIT_FLAGS = ("connect_timeout", "request_timeout", "stall_after", "stall_timeout")


def add_connection_options(p) -> None:
    """``--ib-host``, ``--ib-port``, ``--client-id`` and the waits of ``WAIT_FLAGS``."""
    p.add_argument("--ib-host", default="127.0.0.1", help="TWS/Gateway host")
    p.add_argument("--ib-port", type=port_arg, default=7497,
                   help="TWS paper 7497, TWS live 7496, Gateway paper 4002, live 4001")
    p.add_argument("--client-id", type=count_arg, default=1,
                   help="API client id, 0 or more (kept on reconnect)")
    p.add_argument("--connect-timeout", type=positive_float_arg,
                   default=StoreSettings.connect_timeout, metavar="SECONDS",
                   help="seconds for the connection and the first sync with TWS/Gateway")
    p.add_argument("--request-timeout", type=seconds_arg, metavar="SECONDS",
                   help="seconds TWS/Gateway may take to answer a request the run needs "
                        "(contract details, historical bars, option chains and quotes) "
                        f"before the run gives up on it (default "
                        f"{StoreSettings.request_timeout:g}; raise it on a slow link)")
    p.add_argument("--stall-after", type=seconds_arg, default=StoreSettings.stall_after,
                   metavar="SECONDS",
                   help="a TWS that hangs with its socket open sends nothing and closes "
                        "nothing: after this many seconds without a byte from it the run "
                        "asks for its time (reqCurrentTime), and no answer within "
                        "--stall-timeout reconnects as after a dropped socket. Quiet markets "
                        "are fine (TWS answers); 0 turns the watchdog off")
    p.add_argument("--stall-timeout", type=seconds_arg, metavar="SECONDS",
                   help="seconds to wait for that answer before the run reconnects "
                        f"(default {StoreSettings.stall_timeout:g}; raise it on a slow "
                        "link)")


def store_settings(args: argparse.Namespace, **fields) -> StoreSettings:
    """The connection's settings from ``add_connection_options``'s flags and the
    command's own ``fields`` (given as ``--field-name``; None: not given). A value
    ``StoreSettings`` refuses (a negative ``--stall-after``, a ``--stall-timeout`` of 0) is
    a DataError naming the flag, and so is a flag that would change nothing, before
    anything connects."""
    if args.stall_timeout is not None and args.stall_after == 0:
        raise DataError("--stall-timeout applies only with the stall watchdog on: drop it, "
                        "or give --stall-after above 0 (--stall-after 0 turns it off)")
    given = {name: getattr(args, name) for name in WAIT_FLAGS}
    given |= fields
    try:
        return StoreSettings(host=args.ib_host, port=args.ib_port, client_id=args.client_id,
                             **{name: value for name, value in given.items()
                                if value is not None})
    except ValueError as exc:
        raise DataError(with_flags(str(exc), tuple(given))) from None
