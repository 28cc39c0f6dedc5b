"""No key reaches stderr from the command line, whatever argument holds it: argparse quotes a
whole argument in its usage errors, so a key inside one ("key: ABSK…", "xABSK…") would be printed
back to the terminal (and any log collecting it)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from test_cli import LONG_TERM, SHORT_TERM, run
from test_redaction import leaked, percent_encode, wrap

ARGUMENTS = {
    "after words": lambda k: f"key: {k}",
    "glued after a letter": lambda k: f"x{k}",
    "in quotes": lambda k: f"'{k}'",
    "wrapped": lambda k: wrap(k, 30),
    "percent-encoded": lambda k: f"https://x.example/?k={percent_encode(k)}",
}
PLACES = {
    "inspect-key argument": lambda a: ["inspect-key", a],
    "unknown command": lambda a: [a],
    "option value": lambda a: ["policy", "deny-bearer-token", "--action", a],
    "unknown option": lambda a: ["audit", f"--{a}"],
}


@pytest.mark.parametrize("key", [LONG_TERM, SHORT_TERM], ids=["long_term", "short_term"])
@pytest.mark.parametrize("argument", ARGUMENTS)
@pytest.mark.parametrize("place", PLACES)
def test_a_key_anywhere_in_argv_is_never_printed(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    key: str,
    argument: str,
    place: str,
) -> None:
    argv = PLACES[place](ARGUMENTS[argument](key))

    code, out, err = run(monkeypatch, capsys, argv)

    assert code == 2
    assert leaked(out + err, key) == []


def test_the_installed_command_prints_no_key_either() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "inspect-key", f"key: {LONG_TERM}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "never taken from the command line" in done.stderr
    assert leaked(done.stdout + done.stderr, LONG_TERM) == []
