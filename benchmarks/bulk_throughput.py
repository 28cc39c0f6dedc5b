"""Bulk containment throughput, side by side, and serve's start-up and memory.

    python benchmarks/bulk_throughput.py                       # 1,000 keys on 500 users
    python benchmarks/bulk_throughput.py --write docs/benchmarks.md

One moto server (a thread of this process, the sandbox's service-specific credentials) holds
1,000 long-term Bedrock API keys on 500 IAM users; every IAM call then takes `--latency` (20 ms)
before moto answers, standing in for IAM's own latency. Three ways to deactivate every key:

(a) the bot: `bedrock-revoker serve` in its own process, the account scope requested through the
    real flow (`/revoke-bedrock-key account`, the form submitted, the request posted with its
    plan); timed from the signed Approve click to the request message showing its final status
    (every key Inactive and verified), with when IAM set the last key Inactive;
(b) the floor: a plain script making only the necessary calls (one
    UpdateServiceSpecificCredential per key, then one AllUsers listing to check) with the same
    concurrency as the bot (`--concurrency`, REVOKER_BULK_CONCURRENCY);
(c) a responder without the bot: `aws iam update-service-specific-credential` once per key in a
    shell loop (awscli, the `bench` extra), timed on `--cli-sample` keys and scaled to all.

Every key is set Active again (latency off) between the ways. serve's start-up (spawn to
`/healthz` 200) and resident memory (after start, after the run) are read from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import ack_latency as common
import boto3
from botocore.config import Config
from containment import InactiveWatch

from bot.sandbox import iam as sandbox_iam
from bot.sandbox.harness import APPROVER, CHANNEL, REQUESTER
from bot.sandbox.slack_driver import SlackDriver, plain_text_input
from bot.views import ids


def iam_client(workers: int) -> Any:
    config = Config(retries={"mode": "adaptive"}, max_pool_connections=max(workers, 10))
    return boto3.Session(region_name=common.REGION).client("iam", config=config)


def create_keys(users: int, per_user: int) -> list[tuple[str, str]]:
    """(user, credential id) of every key made."""
    iam = iam_client(16)

    def make(n: int) -> list[tuple[str, str]]:
        user = f"ci-{n:04d}"
        iam.create_user(UserName=user)
        out = []
        for _ in range(per_user):
            made = iam.create_service_specific_credential(
                UserName=user, ServiceName=common.BEDROCK
            )["ServiceSpecificCredential"]
            out.append((user, made["ServiceSpecificCredentialId"]))
        return out

    with ThreadPoolExecutor(16) as pool:
        return [k for ks in pool.map(make, range(users)) for k in ks]


def set_all(keys: Sequence[tuple[str, str]], status: str) -> None:
    iam = iam_client(16)

    def one(key: tuple[str, str]) -> None:
        iam.update_service_specific_credential(
            UserName=key[0], ServiceSpecificCredentialId=key[1], Status=status
        )

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, keys))


def statuses() -> dict[str, str]:
    iam = iam_client(1)
    found: dict[str, str] = {}
    marker: str | None = None
    while True:
        page = iam.list_service_specific_credentials(
            AllUsers=True, MaxItems=1000, **({"Marker": marker} if marker else {})
        )
        found.update(
            {
                c["ServiceSpecificCredentialId"]: c["Status"]
                for c in page["ServiceSpecificCredentials"]
            }
        )
        marker = page.get("Marker")
        if not page.get("IsTruncated") or not marker:
            return found


def floor(keys: Sequence[tuple[str, str]], workers: int) -> float:
    """(b): the necessary calls only, `workers` at a time; seconds."""
    iam = iam_client(workers)

    def one(key: tuple[str, str]) -> None:
        iam.update_service_specific_credential(
            UserName=key[0], ServiceSpecificCredentialId=key[1], Status="Inactive"
        )

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, keys))
    assert set(statuses().values()) == {"Inactive"}, "the floor left keys Active"
    return time.perf_counter() - started


def aws_cli() -> str:
    found = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")
    if found is None:
        raise SystemExit("awscli is needed for (c): pip install -e '.[bench]'")
    return found


def cli_loop(keys: Sequence[tuple[str, str]]) -> float:
    """(c): one `aws iam update-service-specific-credential` per key, in a shell loop."""
    aws = shlex.quote(aws_cli())
    lines = [
        f"{aws} iam update-service-specific-credential --user-name {shlex.quote(user)} "
        f"--service-specific-credential-id {shlex.quote(cid)} --status Inactive"
        for user, cid in keys
    ]
    script = "set -e\n" + "\n".join(lines) + "\n"
    env = {**os.environ, "AWS_PAGER": ""}
    started = time.perf_counter()
    subprocess.run(["bash", "-c", script], check=True, env=env)  # noqa: S603, S607
    return time.perf_counter() - started


def rss_mb(pid: int | None) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def healthz(target: common.Target, timeout: float = 30.0) -> None:  # noqa: ASYNC109
    url = target.app_url.replace("/slack/events", "/healthz")

    def get() -> int:
        with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 (loopback)
            return int(answer.status)

    async with asyncio.timeout(timeout):
        while True:
            try:
                if await asyncio.to_thread(get) == 200:
                    return
            except OSError:
                pass
            await asyncio.sleep(0.01)


async def the_bot(
    keys: Sequence[tuple[str, str]], workers: int, latency: float
) -> dict[str, float]:
    """(a), with serve's start-up and memory."""
    watch = InactiveWatch(asyncio.get_running_loop())
    stopped = common.Stopped()
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        spawned = time.perf_counter()
        async with common.app_process(
            Path(tmp), stopped, settings={"REVOKER_BULK_CONCURRENCY": str(workers)}
        ) as target:
            await healthz(target)
            out["startup_s"] = time.perf_counter() - spawned
            out["rss_start_mb"] = rss_mb(target.pid)
            async with SlackDriver(target.app_url, target.signing_secret, target.api) as driver:
                api = target.api
                views = len(api.views())
                await driver.slash_command(REQUESTER, CHANNEL, text="account")
                view = (await api.wait_for(lambda: api.views()[views:] or None, what="modal"))[0]
                messages = len(api.messages(CHANNEL))
                values = {ids.REASON_BLOCK: {ids.REASON_ACTION: plain_text_input("INC-1: bench")}}
                await driver.view_submission(REQUESTER, view_id=view.id, values=values)
                message = await api.wait_for(
                    lambda: (
                        (m := api.messages(CHANNEL)[messages:])
                        and api.thread(CHANNEL, m[0].ts)
                        and m[0]
                    ),
                    timeout=120,
                    what="request posted with its plan",
                )
                sandbox_iam.set_latency(latency)
                clicked = time.perf_counter()
                response = await driver.block_action(
                    APPROVER,
                    channel_id=CHANNEL,
                    message_ts=message.ts,
                    action_id=ids.APPROVE_ACTION,
                )
                assert response.status == 200, response.text
                final = await api.wait_for(
                    lambda: (m := api.message(CHANNEL, message.ts)) and common._final(m) and m,
                    timeout=600,
                    what="final status",
                )
                out["bot_s"] = time.perf_counter() - clicked
                sandbox_iam.set_latency(0)
                assert ": completed." in final.text, final.text
                wanted = {cid for _, cid in keys}
                out["last_inactive_s"] = max(watch.at[c] for c in wanted) - clicked
                out["rss_after_mb"] = rss_mb(target.pid)
    assert set(statuses().values()) == {"Inactive"}
    return out


def markdown(r: dict[str, float], args: argparse.Namespace, command: str) -> str:
    m = common.machine()
    n = args.users * args.per_user
    cli_all = r["cli_sample_s"] * n / args.cli_sample
    return "\n".join(
        [
            f"Command: `{command}`",
            "",
            f"Machine: {m['nproc']} CPUs (`nproc`), {m['cpu']}; {m['python']}; {m['os']}; "
            f"run {m['date']}; 1-min load average {common.load_average()}.",
            "",
            f"{n} long-term keys on {args.users} users in moto's server, every IAM call delayed "
            f"{args.latency * 1000:.0f} ms; concurrency {args.concurrency} for (a) and (b).",
            "",
            "| way | seconds | keys/s | vs (b) |",
            "|---|--:|--:|--:|",
            f"| (a) the bot: approve click → every key Inactive and verified (final status "
            f"shown) | {r['bot_s']:.2f} | {n / r['bot_s']:.0f} | "
            f"{r['bot_s'] / r['floor_s']:.2f}x |",
            f"| (a) the bot: approve click → IAM sets the last key Inactive | "
            f"{r['last_inactive_s']:.2f} | {n / r['last_inactive_s']:.0f} | "
            f"{r['last_inactive_s'] / r['floor_s']:.2f}x |",
            f"| (b) the floor: the necessary calls only | {r['floor_s']:.2f} | "
            f"{n / r['floor_s']:.0f} | 1.00x |",
            f"| (c) awscli in a shell loop: {args.cli_sample} keys took "
            f"{r['cli_sample_s']:.1f} s, scaled to {n} | {cli_all:.0f} | {n / cli_all:.1f} | "
            f"{cli_all / r['floor_s']:.0f}x |",
            "",
            f"(a) is {cli_all / r['bot_s']:.0f}x faster than (c).",
            "",
            "| serve | value |",
            "|---|--:|",
            f"| start-up: spawn → `/healthz` 200 | {r['startup_s']:.2f} s |",
            f"| resident memory after start | {r['rss_start_mb']:.0f} MB |",
            f"| resident memory after the {n}-key run | {r['rss_after_mb']:.0f} MB |",
        ]
    )


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--per-user", type=int, default=2, choices=(1, 2))
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per IAM call")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--cli-sample", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--write", type=Path, metavar="FILE", help="update FILE (markdown)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    results: dict[str, float] = {}
    with common.moto_server("thread") as moto:
        common._use_aws(moto.url)
        keys = create_keys(args.users, args.per_user)
        print(f"{len(keys)} keys made", file=sys.stderr)

        sandbox_iam.set_latency(args.latency)
        results["floor_s"] = floor(keys, args.concurrency)
        sample = keys[: args.cli_sample]
        results["cli_sample_s"] = cli_loop(sample)
        sandbox_iam.set_latency(0)
        set_all(keys, "Active")

        async def run() -> dict[str, float]:
            async with asyncio.timeout(args.timeout):
                return await the_bot(keys, args.concurrency, args.latency)

        results.update(asyncio.run(run()))
    shown = common.without_write(argv)
    report = markdown(results, args, " ".join(["python", "benchmarks/bulk_throughput.py", *shown]))
    common.publish(report, args.write, "bulk")
    return 0


if __name__ == "__main__":
    sys.exit(main())
