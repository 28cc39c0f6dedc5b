"""What `bedrock-revoker serve` loads before it answers, and garbage collection around it.

Start-up time itself is measured in benchmarks/, not here.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from typing import Any

import pytest

from bot.startup import uncollected

# The console script's own path into serve: its imports run, then it stops at the settings (none
# are given), before opening a store or a port.
_SERVE_IMPORTS = """
import gc, json, sys
from bot.__main__ import main
sys.argv = ["bedrock-revoker", "serve"]
code = main()
print(json.dumps({
    "exit": code,
    "modules": sorted(m for m in ("handlers.app", "boto3", "s3transfer") if m in sys.modules),
    "collecting": gc.isenabled(),
    "frozen": gc.get_freeze_count(),
}))
"""


@pytest.fixture(scope="module")
def serve_start() -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")}
    done = subprocess.run(
        [sys.executable, "-c", _SERVE_IMPORTS],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    assert result["exit"] == 2, done.stderr  # refused for missing settings, after its imports
    return result


def test_serve_loads_the_app_without_boto3(serve_start: dict[str, Any]) -> None:
    # The AWS clients are botocore's; boto3 and the s3transfer it imports would only add to
    # every start of serve.
    assert serve_start["modules"] == ["handlers.app"]


def test_collection_resumes_once_start_up_has_loaded(serve_start: dict[str, Any]) -> None:
    # A server left without its cyclic collector grows with every reference cycle it makes.
    assert serve_start["collecting"] is True
    assert serve_start["frozen"] > 10_000  # what start-up loaded, never walked again


def test_uncollected_freezes_what_the_block_made_and_keeps_a_paused_collector_paused() -> None:
    gc.collect()
    before = gc.get_freeze_count()
    try:
        with uncollected():
            assert not gc.isenabled()
            made = [[] for _ in range(1000)]
        assert gc.isenabled()
        assert gc.get_freeze_count() >= before + len(made)

        gc.disable()
        with uncollected():
            pass
        assert not gc.isenabled()  # whoever paused it resumes it
    finally:
        gc.enable()
        gc.unfreeze()
