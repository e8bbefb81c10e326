"""The dependency-free core: errors, the trading vocabulary and atomic writes.

Every package of ours may import it; it imports nothing of ours (an import-linter
contract in ``setup.cfg`` keeps it so).
"""

from core.atomic import atomic_write_bytes, atomic_write_file, publish_folder, replace_folder
from core.domain import (
    CALL_CREDIT_SPREAD,
    CLASS_NAMES,
    DIRECTION_NAMES,
    HOLD,
    MULTIPLIER,
    PUT_CREDIT_SPREAD,
    REGIME_NAMES,
    SIGNAL_NAMES,
    TRADING_DAYS,
)
from core.errors import DataError

__all__ = ["DataError", "REGIME_NAMES", "HOLD", "CALL_CREDIT_SPREAD", "PUT_CREDIT_SPREAD",
           "CLASS_NAMES", "SIGNAL_NAMES", "DIRECTION_NAMES", "TRADING_DAYS", "MULTIPLIER",
           "atomic_write_bytes", "atomic_write_file", "publish_folder", "replace_folder"]
