"""Containment time: from an approver's click to the leaked key being Inactive in IAM.

    python benchmarks/containment.py                  # 50 runs
    python benchmarks/containment.py --runs 100 --warmup 10

The app is `bedrock-revoker serve` in its own process, configured by environment only, as
`benchmarks/ack_latency.py` runs it (its helpers start serve, the Slack Web API stand-in and
moto). moto's HTTP server runs in a thread of this process so the benchmark can see IAM change:
the stop watch starts when the driver starts POSTing the signed Approve click and stops when
IAM (moto's backend) sets the key Inactive, before IAM even answers the app. Everything between
is the app's: the ack, the approval's compare-and-set, the hand-off to the runner, the claim,
the step's read of the key, and the write itself.

Runs are one at a time: each request is created through the real flow (slash command, modal
submission, request posted with its plan), approved, timed, and finished (final status in the
channel) before the next starts, so a run never waits behind another's background work.

Bounded: `--timeout` for the whole run. Everything is loopback; every child process is stopped
on the way out.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ack_latency as common
import boto3
from moto.iam.models import IAMBackend

from bot.sandbox.harness import APPROVER, CHANNEL, REQUESTER
from bot.sandbox.slack_driver import SlackDriver, plain_text_input
from bot.views import ids


class InactiveWatch:
    """When IAM sets each key Inactive (time.perf_counter), seen inside moto's backend."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.at: dict[str, float] = {}
        self.changed = asyncio.Event()
        self._lock = threading.Lock()
        original = IAMBackend.update_service_specific_credential
        watch = self

        def update(backend: Any, user_name: str, credential_id: str, status: str) -> Any:
            result = original(backend, user_name, credential_id, status)
            if status == "Inactive":
                with watch._lock:
                    watch.at.setdefault(credential_id, time.perf_counter())
                loop.call_soon_threadsafe(watch.changed.set)
            return result

        IAMBackend.update_service_specific_credential = update  # type: ignore[method-assign]

    async def inactive(self, credential_id: str, timeout: float) -> float:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while credential_id not in self.at:
                self.changed.clear()
                if credential_id in self.at:
                    break
                await self.changed.wait()
        return self.at[credential_id]


def new_key(n: int) -> tuple[str, str]:
    """An IAM user with one Bedrock API key: (credential id, the leaked key string)."""
    iam = boto3.Session(region_name=common.REGION).client("iam")
    user = f"BedrockAPIKey-contain{n:04d}"
    iam.create_user(UserName=user)
    cred = iam.create_service_specific_credential(UserName=user, ServiceName=common.BEDROCK)
    made = cred["ServiceSpecificCredential"]
    return made["ServiceSpecificCredentialId"], made["ServiceCredentialSecret"]


async def one_run(
    target: common.Target, driver: SlackDriver, watch: InactiveWatch, n: int
) -> float:
    api = target.api
    credential_id, key = await asyncio.to_thread(new_key, n)
    views = len(api.views())
    await driver.slash_command(REQUESTER, CHANNEL, text=key)
    view = (await api.wait_for(lambda: api.views()[views:] or None, what="modal"))[0]
    messages = len(api.messages(CHANNEL))
    values = {ids.REASON_BLOCK: {ids.REASON_ACTION: plain_text_input("INC-1: bench")}}
    await driver.view_submission(REQUESTER, view_id=view.id, values=values)
    message = await api.wait_for(
        lambda: (m := api.messages(CHANNEL)[messages:]) and api.thread(CHANNEL, m[0].ts) and m[0],
        what="request posted with its plan",
    )
    clicked = time.perf_counter()
    response = await driver.block_action(
        APPROVER, channel_id=CHANNEL, message_ts=message.ts, action_id=ids.APPROVE_ACTION
    )
    assert response.status == 200, response.text
    contained = await watch.inactive(credential_id, timeout=30)
    await api.wait_for(
        lambda: common._final(api.message(CHANNEL, message.ts)), timeout=30, what="final status"
    )
    return contained - clicked


async def benchmark(runs: int, warmup: int) -> tuple[list[float], common.Stopped]:
    watch = InactiveWatch(asyncio.get_running_loop())
    stopped = common.Stopped()
    with tempfile.TemporaryDirectory() as tmp:
        async with (
            common.app_process(Path(tmp), stopped) as target,
            SlackDriver(target.app_url, target.signing_secret, target.api) as driver,
        ):
            times = [await one_run(target, driver, watch, n) for n in range(warmup + runs)]
    return times[warmup:], stopped


def markdown(times: Sequence[float], runs: int, warmup: int, command: str, code: str) -> str:
    m = common.machine()
    ms = sorted(t * 1000 for t in times)
    p50, p99 = common.percentile(ms, 50), common.percentile(ms, 99)
    return "\n".join(
        [
            f"Command: `{command}` ({code})",
            "",
            f"Machine: {m['nproc']} CPUs (`nproc`), {m['cpu']}; {m['python']}; {m['os']}; "
            f"run {m['date']}; 1-min load average {common.load_average()}.",
            "",
            f"{runs} runs after {warmup} warm-up runs (excluded), one at a time.",
            "",
            "| approve click → key Inactive | p50 ms | p99 ms | min ms | max ms |",
            "|---|--:|--:|--:|--:|",
            f"| {len(ms)} runs | {p50:.1f} | {p99:.1f} | {ms[0]:.1f} | {ms[-1]:.1f} |",
        ]
    )


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=50, help="measured runs")
    parser.add_argument("--warmup", type=int, default=5, help="warm-up runs (excluded)")
    parser.add_argument("--timeout", type=float, default=600, help="give up after this many s")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be positive and --warmup not negative")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)

    async def run() -> tuple[list[float], common.Stopped]:
        async with asyncio.timeout(args.timeout):
            return await benchmark(args.runs, args.warmup)

    with common.moto_server("thread") as moto:
        common._use_aws(moto.url)
        times, stopped = asyncio.run(run())
    commit = common.subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=common.REPO,
    ).stdout.strip()
    report = markdown(
        times,
        args.runs,
        args.warmup,
        " ".join(["python", "benchmarks/containment.py", *argv]),
        f"commit {commit or 'unknown'}",
    )
    print(report)
    return 0 if stopped.exit_code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
