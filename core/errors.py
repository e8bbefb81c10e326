"""The one error every command turns into ``error: ...`` and exit code 2."""


class DataError(ValueError):
    """Bad or missing input (market data, settings, a stored model), with a message that
    names the file, symbol, row or option at fault."""
