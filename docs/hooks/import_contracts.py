"""mkdocs hook: the import rules, rendered from the import-linter contracts in setup.cfg.

``architecture.md`` holds the marker below; ``on_page_markdown`` replaces it with one entry
per ``[importlinter:contract:*]`` section (its name, its type, and the layers or the
source and forbidden modules), so the page states exactly what ``lint-imports`` checks.
"""

from __future__ import annotations

import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- import-contracts -->"
PREFIX = "importlinter:contract:"


def _items(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def _code(names: list[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)


def render(setup_cfg: Path = ROOT / "setup.cfg") -> str:
    """Markdown for every contract of ``setup_cfg``, in file order."""
    parser = configparser.ConfigParser()
    parser.read(setup_cfg, encoding="utf-8")
    entries = []
    for section in parser.sections():
        if not section.startswith(PREFIX):
            continue
        contract = parser[section]
        lines = [f"* **{contract['name']}** (contract `{section[len(PREFIX):]}`, "
                 f"type `{contract['type']}`)"]
        if "layers" in contract:
            layers = " -> ".join(f"`{layer}`" for layer in _items(contract["layers"]))
            lines.append(f"    * layers, top to bottom: {layers}")
        if "source_modules" in contract:
            lines.append(f"    * `{'`, `'.join(_items(contract['source_modules']))}` may not import "
                         f"{_code(_items(contract.get('forbidden_modules', '')))}")
        if "modules" in contract:
            lines.append(f"    * modules: {_code(_items(contract['modules']))}")
        entries.append("\n".join(lines))
    return "\n".join(entries) + "\n"


def on_page_markdown(markdown: str, page, config, files) -> str:
    """mkdocs event: fill the marker of the page that has it."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, render())
