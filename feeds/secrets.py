"""API keys: read from the environment or a ``.env`` file, never from the command line, and
never written anywhere (logs, errors, reports, cache files).

* Polygon / Massive: ``POLYGON_API_KEY``, else ``MASSIVE_API_KEY`` (the name the renamed
  official client reads);
* Unusual Whales: ``UNUSUAL_WHALES_API_KEY``.

The environment wins over ``.env`` (``.env`` in the working folder, read without changing
``os.environ``). ``redact`` masks every known key in a text, for messages built from
server answers or URLs. ``refuse_key_flags`` stops a command line that carries a key:
command lines are visible to every user of the machine in the process list.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from core.errors import DataError

POLYGON_KEY_NAMES = ("POLYGON_API_KEY", "MASSIVE_API_KEY")
UNUSUAL_WHALES_KEY_NAMES = ("UNUSUAL_WHALES_API_KEY",)
#: flags earlier tools took keys with; refused, value never echoed
KEY_FLAGS = ("--polygon-key", "--uw-key", "--unusual-whales-key", "--api-key")  # refused
MASK = "***"


def _dotenv(path: str | os.PathLike | None = None) -> Mapping[str, str | None]:
    from dotenv import dotenv_values

    env_file = Path(path) if path is not None else Path.cwd() / ".env"
    if not env_file.is_file():
        return {}
    try:
        return dotenv_values(env_file)
    except UnicodeDecodeError:
        raise DataError(f"{env_file} is not UTF-8 text: save it as UTF-8 (its keys cannot be "
                        "read)") from None


def load_dotenv_file() -> None:
    """The working folder's ``.env`` into the environment (where the docs say it is read
    from; python-dotenv alone searches from the code's folder), without overriding what
    the environment sets; a file that is not UTF-8 is a DataError, not a traceback."""
    for name, value in _dotenv().items():
        if value is not None:
            os.environ.setdefault(name, value)


def find_key(names: Sequence[str], env: Mapping[str, str] | None = None,
             dotenv_path: str | os.PathLike | None = None) -> str | None:
    """The first non-empty value of ``names`` in ``env`` (default ``os.environ``), else in
    the ``.env`` file; None when no key is set."""
    env = os.environ if env is None else env
    for name in names:
        value = (env.get(name) or "").strip()
        if value:
            return value
    file_values = _dotenv(dotenv_path)
    for name in names:
        value = (file_values.get(name) or "").strip()
        if value:
            return value
    return None


def polygon_key(env: Mapping[str, str] | None = None,
                dotenv_path: str | os.PathLike | None = None) -> str | None:
    """``POLYGON_API_KEY`` (or ``MASSIVE_API_KEY``) from the environment or ``.env``."""
    return find_key(POLYGON_KEY_NAMES, env, dotenv_path)


def unusual_whales_key(env: Mapping[str, str] | None = None,
                       dotenv_path: str | os.PathLike | None = None) -> str | None:
    """``UNUSUAL_WHALES_API_KEY`` from the environment or ``.env``."""
    return find_key(UNUSUAL_WHALES_KEY_NAMES, env, dotenv_path)


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret (at least 4 characters, to never mask ordinary words)
    replaced by ``***``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    return text


#: words that make a flag look like it carries a secret, whatever its spelling
_SECRET_WORDS = ("key", "token", "secret", "password")


def _looks_like_key_flag(name: str) -> bool:
    """``--polygon-key``, ``--polygon_key``, ``--apikey``, ``--UW-TOKEN``, ...: a misspelt
    key flag must be refused as firmly as the real spelling, because argparse would echo
    its value in an "unrecognized arguments" error."""
    if not name.startswith("-"):
        return False
    words = name.lstrip("-").lower().replace("_", "-")
    return words in {f.lstrip("-") for f in KEY_FLAGS} or _names_a_secret(words)


def _names_a_secret(name: str) -> bool:
    """Whether ``name`` has a secret word anywhere (``apikeys``, ``key-polygon``,
    ``uw_api_key_value``, ``POLYGON_API_KEY``); no option of ours does."""
    flat = name.lower().replace("-", "").replace("_", "")
    return any(word in flat for word in _SECRET_WORDS)


def key_flag_in(argv: Sequence[str]) -> str | None:
    """The refused key flag ``argv`` carries (``--polygon-key`` or ``--polygon-key=...``,
    or a near miss such as ``--polygon_key``, ``--apikey``), or None. Only the flag name is
    returned, never its value."""
    for arg in argv:
        name = arg.split("=", 1)[0]
        # a flag, or an assignment typed as an argument (POLYGON_API_KEY=...)
        if _looks_like_key_flag(name) or ("=" in arg and name.isidentifier()
                                           and _names_a_secret(name)):
            return name
    return None


def key_flag_message(flag: str) -> str:
    return (f"error: {flag} is not accepted: API keys never go on the command line (other "
            "users can read it in the process list). Put them in the environment or in a "
            ".env file: POLYGON_API_KEY (or MASSIVE_API_KEY) for Polygon, "
            "UNUSUAL_WHALES_API_KEY for Unusual Whales.")


def refuse_key_flags(argv: Sequence[str]) -> None:
    """Exit with code 2 and a message (without the value) when ``argv`` carries a key flag."""
    flag = key_flag_in(argv)
    if flag is not None:
        print(key_flag_message(flag), file=sys.stderr)
        raise SystemExit(2)
