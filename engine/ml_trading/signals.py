"""A scored row of the Direction model as the signal printed and saved."""

from __future__ import annotations

import numpy as np

from core.domain import DIRECTION_NAMES
from core.errors import DataError


def direction_name(value: float) -> str:
    return DIRECTION_NAMES[int(value)]


def make_signal(symbol: str, as_of, row, source: str, note: str) -> dict:
    """One signal as printed and saved: names, values and class probabilities."""
    if not np.isfinite(row["direction"]):
        raise DataError(f"{symbol}: the model has no score on {as_of} (too little history "
                        "before it for its warm-up)")
    return {"symbol": symbol, "as_of": str(as_of), "direction": direction_name(row["direction"]),
            "direction_value": int(row["direction"]), "confidence": float(row["confidence"]),
            "p_sell": float(row["p_sell"]), "p_neutral": float(row["p_neutral"]),
            "p_buy": float(row["p_buy"]), "source": source, "model": note}


def signal_text(signal: dict) -> str:
    return f"Direction: {signal['direction']}, Confidence: {signal['confidence']:.2f}"
