"""The README is a contract: its two commands are the ones CI runs, and its configuration table
names every setting the code reads (and nothing else)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from bot import cli
from bot.config import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")

DEMO_COMMAND = (
    "python3 -m venv .venv && . .venv/bin/activate && pip install -q -e '.[demo]' "
    "&& bedrock-revoker demo"
)
TEST_COMMAND = (
    "python3 -m venv .venv && . .venv/bin/activate && pip install -q --require-hashes "
    "-r requirements/test.txt && pip install -q --no-deps -e . && pytest -q"
)
# Read by boto3 rather than by Settings: the standard AWS variables the README documents.
STANDARD_AWS = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
}
# A table row whose first cell is a variable name: | `NAME` | default | meaning |
TABLE_ROW = re.compile(r"^\| `([A-Z][A-Z0-9_]+)` \|", re.MULTILINE)


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.M | re.S)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def settings_env_names() -> set[str]:
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names.add(alias if isinstance(alias, str) else name.upper())
    return names


def test_the_two_commands_come_first_under_two_commands_verbatim() -> None:
    blocks = re.findall(r"```sh\n(.*?)\n```", section("Two commands"), re.S)
    assert blocks[:2] == [DEMO_COMMAND, TEST_COMMAND]


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert TEST_COMMAND in ci.splitlines()


def test_every_setting_is_in_the_configuration_table_and_nothing_unknown_is() -> None:
    documented = set(TABLE_ROW.findall(section("Configuration")))
    missing = settings_env_names() - documented
    assert not missing, f"settings missing from the README's table: {sorted(missing)}"
    unknown = documented - settings_env_names() - STANDARD_AWS
    assert not unknown, f"README documents variables the code does not read: {sorted(unknown)}"


def test_no_variable_table_outside_configuration() -> None:
    # One place to look things up: tables of variables live in the Configuration section only.
    outside = README.replace(section("Configuration"), "")
    assert not TABLE_ROW.findall(outside)


def test_the_documented_defaults_match_the_code() -> None:
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^\| `([A-Z][A-Z0-9_]+)` \| ([^|]*) \|", README, re.M)
    }
    for name, field in Settings.model_fields.items():
        env = field.validation_alias if isinstance(field.validation_alias, str) else name
        default = field.get_default(call_default_factory=True)
        if default is None or default in ((), {}):
            continue
        shown = ",".join(default) if isinstance(default, tuple) else str(default)
        assert f"`{shown}`" in rows[env], f"{env}: README default {rows[env]!r}, code {shown!r}"


def test_every_subcommand_is_documented_and_only_those() -> None:
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    commands = set(subparsers.choices or ())
    table = section("Command line")
    documented = set(re.findall(r"^\| `([a-z][a-z-]*)", table, re.M))
    assert documented == commands


def test_the_python_it_needs_is_stated_before_the_commands() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["requires-python"] == ">=3.11"
    assert section("Two commands").startswith("\nYou need Python 3.11 or newer.")


def test_the_first_deployment_checklist_is_ten_lines() -> None:
    steps = re.findall(r"^(\d+)\. ", section("First real deployment"), re.M)
    assert steps == [str(n) for n in range(1, 11)]


def test_every_relative_link_points_at_a_file() -> None:
    for target in re.findall(r"\]\((?!https?://|#)([^)#]+)", README):
        assert (ROOT / target).exists(), target


@pytest.mark.parametrize(
    "path",
    [
        "manifest.yml",
        "manifest-http.yml",
        "deploy/iam-policy.json",
        "deploy/README.md",
        "docs/security.md",
        "docs/operations.md",
    ],
)
def test_linked_files_exist(path: str) -> None:
    assert path in README
    assert (ROOT / path).is_file()
