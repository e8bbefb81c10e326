"""The README stays a way in and the docs site stays whole: cheap checks that fail when a
command is renamed, a page is moved or a link is broken (``make docs`` builds the site
strictly; these run with the tests, without mkdocs)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

from cli.main import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: ``python run.py COMMAND [ACTION]`` as the README writes an example
COMMAND = re.compile(r"python run\.py\s+([a-z][a-z-]*)(?:\s+([a-z][a-z-]*))?")
#: a markdown link ``[text](target)``
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _subcommands(parser) -> dict:
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            return dict(action.choices)
    return {}


def _nav_pages(nav) -> list[str]:
    pages = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        pages.extend(_nav_pages(value) if isinstance(value, list) else [value])
    return pages


def _load_hook(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / "hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_is_a_way_in_under_200_lines():
    assert len(README.read_text(encoding="utf-8").splitlines()) < 200


def test_every_command_the_readme_names_is_a_real_subcommand():
    commands = _subcommands(build_parser())
    named = COMMAND.findall(README.read_text(encoding="utf-8"))
    assert {"backtest", "train", "paper", "ml-trading", "sweep", "data"} <= {c for c, _ in named}
    for command, action in named:
        assert command in commands, f"README names `run.py {command}`, which run.py does not have"
        actions = _subcommands(commands[command])
        if actions:
            assert action in actions, f"README names `run.py {command} {action}`"


@pytest.mark.parametrize("page", [README, *sorted((ROOT / "docs").rglob("*.md"))],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_existing_files(page):
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (page.parent / target.split("#", 1)[0]).resolve()
        assert path.exists(), f"{page.relative_to(ROOT)} links to {target}, which does not exist"


@pytest.mark.parametrize("page", [README, *sorted((ROOT / "docs").rglob("*.md"))],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_named_test_and_bench_files_exist(page):
    """A page that sends the reader to a test or bench script (``tests/fakes/fake_tws.py``)
    names one that exists: a moved file left the paper page pointing at nothing."""
    for path in re.findall(r"`((?:tests|bench)/[\w/.-]+\.py)`", page.read_text(encoding="utf-8")):
        assert (ROOT / path).exists(), f"{page.relative_to(ROOT)} names {path}, which does not exist"


def test_every_page_in_the_nav_exists_and_every_page_is_in_the_nav():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    pages = _nav_pages(config["nav"])
    docs = ROOT / config.get("docs_dir", "docs")
    missing = [page for page in pages if not (docs / page).is_file()]
    assert not missing, f"mkdocs.yml's nav names pages that do not exist: {missing}"
    on_disk = {str(p.relative_to(docs)) for p in docs.rglob("*.md")}
    assert on_disk == set(pages), f"pages outside the nav: {sorted(on_disk - set(pages))}"


def test_the_site_build_runs_both_hooks():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    for hook in ("cli_reference", "import_contracts"):
        assert f"docs/hooks/{hook}.py" in config.get("hooks", [])


def test_cli_reference_renders_every_command_and_action():
    hook = _load_hook("cli_reference")
    parser = build_parser()
    text = hook.on_page_markdown(f"# CLI\n\n{hook.MARKER}\n", None, None, None)
    assert hook.MARKER not in text
    for name, sub in _subcommands(parser).items():
        assert f"`run.py {name}`" in text
        for action in _subcommands(sub):
            assert f"`run.py {name} {action}`" in text
    assert text.count("```text") == len(list(hook.walk(parser)))
    assert hook.MARKER in (ROOT / "docs" / "reference" / "cli.md").read_text(encoding="utf-8")


def test_cli_reference_does_not_depend_on_the_terminal_width(monkeypatch):
    hook = _load_hook("cli_reference")
    monkeypatch.setenv("COLUMNS", "40")
    narrow = hook.render()
    monkeypatch.setenv("COLUMNS", "250")
    assert hook.render() == narrow


def test_import_rules_render_every_contract_of_setup_cfg():
    hook = _load_hook("import_contracts")
    text = hook.render()
    contracts = re.findall(r"^\[importlinter:contract:([^\]]+)\]",
                           (ROOT / "setup.cfg").read_text(encoding="utf-8"), re.M)
    assert contracts
    for key in contracts:
        assert f"(contract `{key}`," in text
    assert hook.MARKER in (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
