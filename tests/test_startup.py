"""What `bedrock-revoker serve` has loaded once it answers /healthz, and garbage collection
around its start-up. Start-up time itself is measured in benchmarks/, not here.
"""

from __future__ import annotations

import gc
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.startup import uncollected

# The console script's entry point runs serve in the main thread (it handles SIGTERM there);
# a thread waits for /healthz 200, notes what is loaded, then stops serve as a container stop
# would. The result is printed after serve returned.
_SERVE_UNTIL_HEALTHY = """
import gc, json, os, signal, sys, threading, time, urllib.request
from bot.__main__ import main

seen = {}

def watch():
    url = "http://127.0.0.1:%s/healthz" % os.environ["REVOKER_PORT"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    break
        except OSError:
            time.sleep(0.02)
    seen["modules"] = sorted(
        m for m in ("boto3", "s3transfer", "botocore.session", "botocore.client")
        if m in sys.modules
    )
    seen["collecting"] = gc.isenabled()
    seen["frozen"] = gc.get_freeze_count()
    os.kill(os.getpid(), signal.SIGTERM)

threading.Thread(target=watch, daemon=True).start()
sys.argv = ["bedrock-revoker", "serve"]
seen["exit"] = main()
print(json.dumps(seen))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def healthy_serve(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp: Path = tmp_path_factory.mktemp("serve")
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "SLACK_BOT_TOKEN": "xoxb-not-a-real-token",
            "SLACK_SIGNING_SECRET": "0123456789abcdef0123456789abcdef",
            "REVOKER_APPROVER_USER_IDS": "U0BOB",
            "REVOKER_HOST": "127.0.0.1",
            "REVOKER_PORT": str(_free_port()),
            "REVOKER_DATABASE_URL": f"sqlite:///{tmp / 'revoker.db'}",
            "REVOKER_LOG_FORMAT": "json",
        }
    )
    done = subprocess.run(
        [sys.executable, "-c", _SERVE_UNTIL_HEALTHY],
        env=env,
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    seen: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    assert seen["exit"] == 0, done.stderr
    assert "modules" in seen, f"never healthy: {done.stderr}"
    return seen


def test_serve_is_healthy_before_loading_an_aws_client(healthy_serve: dict[str, Any]) -> None:
    # Answering Slack needs no AWS client: botocore's session and client machinery load with
    # the first one, after an ack. The clients are botocore's own, so boto3 (and the s3transfer
    # it imports) never load at all.
    assert healthy_serve["modules"] == []


def test_collection_resumes_once_start_up_has_loaded(healthy_serve: dict[str, Any]) -> None:
    # A server left without its cyclic collector grows with every reference cycle it makes.
    assert healthy_serve["collecting"] is True
    assert healthy_serve["frozen"] > 10_000  # what start-up loaded, never walked again


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
