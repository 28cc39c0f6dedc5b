"""Acks while a 1,000-key bulk run executes, and serve's ack overhead against Bolt itself.

    python benchmarks/ack_under_load.py                       # 1,000 keys, 5 rounds per phase
    python benchmarks/ack_under_load.py --write docs/benchmarks.md

Three apps, each in a process of its own on 127.0.0.1, signed requests from this process:
`bedrock-revoker serve` (configured by environment, SQLite, JSON logs at INFO, as
`ack_latency.py` runs it), and `benchmarks/minimal_bolt_app.py` twice: the minimal Bolt app
(one slash command that only acks) as Bolt's guide writes it, and the same with
`process_before_response=True` (serve's setting, no 10 ms ack poll). AWS is a moto server in a
child process with the sandbox's service-specific-credential operations, every IAM call delayed
`--latency` (20 ms, IAM's own latency) while rounds run; Slack's Web API is the sandbox's
stand-in, served here.

Before the phases: 1,000 long-term keys on 500 users; the account scope requested through serve
(`/revoke-bedrock-key account`, the form submitted, the request posted with its plan); then
further keys, each with a single-key request awaiting approval (created after the bulk request
was submitted, so outside its snapshot) for the Approve rounds to click; then one untimed
warm-up round of each row (first requests pay for connections, auth.test, lazy imports).

Two phases of `--rounds` rounds each, the apps in turn within a round (the order rotating from
round to round, so none always goes first):
- idle: nothing else runs;
- bulk: the bulk request is approved first (its 1,000 keys deactivated by serve's runner in the
  same process); only rounds that end before the run does count (a round of each row at least,
  or the benchmark fails), and none starts after it.
A round is `--per-round` requests from `--concurrency` senders, each sending its next request
once the previous one is answered: slash commands (`/revoke-bedrock-key <key>`) to each app, and
Approve clicks to serve, each on a different pending request. Between rounds the app's work
after those acks (serve's modals opened, approvals carried out) is awaited, so a round is not
timed against the previous round's leftovers. Timed: from the start of the POST of an already
signed request to its whole response having been read.

Targets (issue: bulk containment): serve's slash command and Approve p99 under 100 ms during the
bulk run; serve's slash-command p99 within 1.5x the minimal app's, idle and during the run.
The exit status is 1 if a target is missed, a request is not answered 200, the bulk run or an
approval does not complete, or serve does not stop cleanly; 2 on timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ack_latency as common
import aiohttp
import bulk_throughput as bulk
from ack_latency import Sample, Stats

from bot.sandbox.harness import APPROVER, CHANNEL, GROUP_APPROVER, REQUESTER
from bot.sandbox.slack_api import SlackApiStandIn
from bot.sandbox.slack_driver import Response, SlackDriver, plain_text_input
from bot.views import ids

HERE = Path(__file__).resolve().parent
MINIMAL = "minimal Bolt app"
MINIMAL_PBR = "minimal Bolt app, process_before_response"
SERVE_SLASH = "serve: slash command"
SERVE_APPROVE = "serve: Approve"
KINDS = (MINIMAL, MINIMAL_PBR, SERVE_SLASH, SERVE_APPROVE)
PHASES = ("idle", "bulk run executing")
TARGET_P99_MS = 100.0
TARGET_RATIO = 1.5
START_TIMEOUT = 30.0


# ---------------------------------------------------------------------- the minimal Bolt apps


@dataclass(frozen=True)
class MinimalApp:
    url: str
    secret: str
    pid: int


@contextlib.asynccontextmanager
async def minimal_app(api: SlackApiStandIn, *, before_response: bool) -> AsyncIterator[MinimalApp]:
    port, secret = common.free_port(), os.urandom(16).hex()
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env |= {
        "SLACK_SIGNING_SECRET": secret,
        "SLACK_BOT_TOKEN": api.bot_token,
        "SLACK_API_URL": api.base_url,
    }
    flags = ["--process-before-response"] if before_response else []
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HERE / "minimal_bolt_app.py"),
        "--port",
        str(port),
        *flags,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/slack/events"
    try:
        async with asyncio.timeout(START_TIMEOUT), aiohttp.ClientSession() as http:
            while True:  # up once its server answers (a GET of the events path is a 405)
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(url):
                        break
                if proc.returncode is not None:
                    raise RuntimeError("the minimal Bolt app exited before serving")
                await asyncio.sleep(0.05)
        yield MinimalApp(url, secret, proc.pid)
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()


# ---------------------------------------------------------------------- sending, timed


class SignedOnly(SlackDriver):
    """Builds and signs what Slack would send, as the sandbox's driver does, but sends nothing:
    the requests go to the senders' process (`Senders`) to be timed there."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.built: list[dict[str, Any]] = []

    async def post_raw(self, body: bytes, headers: Mapping[str, str]) -> Response:
        self.built.append(
            {"url": self.app_url, "body": base64.b64encode(body).decode(), "headers": headers}
        )
        return Response(200, "")  # no ack body to show in the stand-in

    def take(self) -> list[dict[str, Any]]:
        built, self.built = self.built, []
        return built


class Senders:
    """`benchmarks/senders.py` in its own process: sends a round of signed requests and says
    how long each took."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc

    @classmethod
    @contextlib.asynccontextmanager
    async def started(cls) -> AsyncIterator[Senders]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(HERE / "senders.py"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            limit=1 << 24,
        )
        try:
            yield cls(proc)
        finally:
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                async with asyncio.timeout(10):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()

    @property
    def pid(self) -> int:
        return self._proc.pid

    async def send(
        self, kind: str, requests: list[dict[str, Any]], concurrency: int
    ) -> list[Sample]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        order = {"concurrency": concurrency, "requests": requests}
        self._proc.stdin.write(json.dumps(order).encode() + b"\n")
        await self._proc.stdin.drain()
        answer = json.loads(await self._proc.stdout.readline())
        return [Sample(kind, seconds, status) for seconds, status in answer["samples"]]


# ---------------------------------------------------------------------- the flow


@dataclass
class Apps:
    api: SlackApiStandIn
    serve: SlackDriver  # untimed: the requests set up before the rounds
    builders: dict[str, SignedOnly]  # per kind: the app its requests go to
    senders: Senders
    drain_timeout: float
    samples: list[Sample] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # for slash commands (any valid key text)
    pending: list[str] = field(default_factory=list)  # request messages awaiting approval
    clicked: int = 0

    async def request(self, text: str, reason: str = "INC-4242: bench") -> str:
        """A request through serve's flow (untimed); the ts of its message, plan posted."""
        views, posted = len(self.api.views()), len(self.api.messages(CHANNEL))
        await self.serve.slash_command(REQUESTER, CHANNEL, text=text)
        view = (await self.api.wait_for(lambda: self.api.views()[views:], what="the form"))[0]
        values = {ids.REASON_BLOCK: {ids.REASON_ACTION: plain_text_input(reason)}}
        await self.serve.view_submission(REQUESTER, view_id=view.id, values=values)
        message = await self.api.wait_for(
            lambda: (
                (m := self.api.messages(CHANNEL)[posted:])
                and self.api.thread(CHANNEL, m[0].ts)
                and m[0]
            ),
            timeout=self.drain_timeout,
            what="the request posted with its plan",
        )
        return message.ts

    async def pending_requests(self, keys: Sequence[str], concurrency: int) -> None:
        """One single-key request awaiting approval per key (untimed, `concurrency` at once)."""
        views, posted = len(self.api.views()), len(self.api.messages(CHANNEL))
        await common.run_round("", keys, self._command, concurrency)
        opened = await self.api.wait_for(
            lambda: len(self.api.views()) >= views + len(keys) and self.api.views()[views:],
            timeout=self.drain_timeout,
            what=f"{len(keys)} forms",
        )
        await common.run_round("", [v.id for v in opened], self._submit, concurrency)

        def all_posted() -> list[str] | None:
            new = self.api.messages(CHANNEL)[posted:]
            if len(new) < len(keys) or not all(self.api.thread(CHANNEL, m.ts) for m in new):
                return None
            return [m.ts for m in new]

        self.pending = await self.api.wait_for(
            all_posted, timeout=self.drain_timeout, what=f"{len(keys)} requests posted"
        )

    async def _command(self, key: str) -> Response:
        return await self.serve.slash_command(REQUESTER, CHANNEL, text=key)

    async def _submit(self, view_id: str) -> Response:
        values = {ids.REASON_BLOCK: {ids.REASON_ACTION: plain_text_input("INC-4242: bench")}}
        return await self.serve.view_submission(REQUESTER, view_id=view_id, values=values)

    # ------------------------------------------------------------------ timed rounds

    async def round(self, kind: str, size: int, concurrency: int, *, timed: bool = True) -> None:
        builder = self.builders[kind]
        if kind == SERVE_APPROVE:
            items = self.pending[self.clicked : self.clicked + size]
            self.clicked += size
            if len(items) < size:
                raise RuntimeError("not enough pending requests for the Approve rounds")
            for n, ts in enumerate(items):
                # Alternately a configured approver and a member of the approver user group.
                approver = APPROVER if n % 2 == 0 else GROUP_APPROVER
                await builder.block_action(
                    approver, channel_id=CHANNEL, message_ts=ts, action_id=ids.APPROVE_ACTION
                )
        else:
            for i in range(size):
                await builder.slash_command(REQUESTER, CHANNEL, text=self.keys[i % len(self.keys)])
        views = len(self.api.views())
        samples = await self.senders.send(kind, builder.take(), concurrency)
        for sample in samples:
            if sample.status != 200:
                print(f"  {kind}: HTTP {sample.status}", file=sys.stderr)
        if timed:
            self.samples += samples
        # What the app does after these acks, before the next round.
        if kind == SERVE_SLASH:
            await self.api.wait_for(
                lambda: len(self.api.views()) >= views + size,
                timeout=self.drain_timeout,
                what=f"{size} forms",
            )
        elif kind == SERVE_APPROVE:
            await self.api.wait_for(
                lambda: all(common._final(self.api.message(CHANNEL, ts)) for ts in items),
                timeout=self.drain_timeout,
                what=f"{size} approvals carried out",
            )


# ---------------------------------------------------------------------- the benchmark


@dataclass
class Phase:
    name: str
    stats: dict[str, Stats]
    rounds: dict[str, int]  # rounds that counted, per kind
    seconds: float
    cpu: dict[str, float]  # share of a CPU each process used during the phase
    waited: float  # share of the phase serve's event-loop thread was runnable without a CPU


@dataclass
class Result:
    phases: list[Phase]
    bulk_keys: int
    bulk_seconds: float  # approve click → final status
    load_before: str
    load_after: str
    stopped: common.Stopped


async def phase(
    name: str,
    apps: Apps,
    args: argparse.Namespace,
    processes: dict[str, int | None],
    holds: Callable[[], bool] = lambda: True,
) -> Phase:
    """`--rounds` rounds of every kind, in turn; only rounds that ended while `holds()` (the
    bulk run still executing) count, and none starts once it no longer does."""
    kept: list[Sample] = []
    rounds = dict.fromkeys(KINDS, 0)
    before = {n: common.cpu_seconds(pid) for n, pid in processes.items()}
    waited = common.waited_seconds(processes["serve"])
    started = time.perf_counter()
    for r in range(args.rounds):
        for i in range(len(KINDS)):
            kind = KINDS[(r + i) % len(KINDS)]
            if not holds():
                break
            mark = len(apps.samples)
            await apps.round(kind, args.per_round, args.concurrency)
            if holds():
                kept += apps.samples[mark:]
                rounds[kind] += 1
    seconds = time.perf_counter() - started
    cpu = {n: (common.cpu_seconds(pid) - before[n]) / seconds for n, pid in processes.items()}
    waited = (common.waited_seconds(processes["serve"]) - waited) / seconds
    stats = {k: Stats.of(k, [s for s in kept if s.kind == k]) for k in KINDS}
    return Phase(name, stats, rounds, seconds, cpu, waited)


async def benchmark(args: argparse.Namespace, moto: common.Moto) -> Result:
    load_before = common.load_average()
    print(f"creating {args.users * 2} keys on {args.users} users ...", file=sys.stderr)
    made = await asyncio.to_thread(bulk.create_keys, args.users, 2)
    stopped = common.Stopped()
    phases: list[Phase] = []
    with tempfile.TemporaryDirectory(prefix="ack-under-load-") as tmp:
        async with contextlib.AsyncExitStack() as stack:
            target = await stack.enter_async_context(
                common.app_process(
                    Path(tmp),
                    stopped,
                    settings={"REVOKER_BULK_CONCURRENCY": str(args.bulk_concurrency)},
                )
            )
            api = target.api
            minimal = await stack.enter_async_context(minimal_app(api, before_response=False))
            pbr = await stack.enter_async_context(minimal_app(api, before_response=True))

            senders = await stack.enter_async_context(Senders.started())
            to_serve = SignedOnly(target.app_url, target.signing_secret, api)
            apps = Apps(
                api,
                await stack.enter_async_context(
                    SlackDriver(target.app_url, target.signing_secret, api)
                ),
                {
                    MINIMAL: SignedOnly(minimal.url, minimal.secret, api),
                    MINIMAL_PBR: SignedOnly(pbr.url, pbr.secret, api),
                    SERVE_SLASH: to_serve,
                    SERVE_APPROVE: to_serve,
                },
                senders,
                args.drain_timeout,
            )
            processes: dict[str, int | None] = {
                "serve": target.pid,
                "moto": moto.pid,
                "minimal app": minimal.pid,
                "minimal app (process_before_response)": pbr.pid,
                "senders": senders.pid,
                "benchmark": None,  # this process: the Slack stand-in
            }
            print("requesting the account scope through serve ...", file=sys.stderr)
            bulk_ts = await apps.request("account", "INC-4242: leaked CI secret store")
            clicks = (args.rounds * 2 + 1) * args.per_round  # both phases' rounds, warm-up
            print(f"creating {clicks} single-key requests to approve ...", file=sys.stderr)
            apps.keys = await asyncio.to_thread(common.create_keys, clicks)
            await apps.pending_requests(apps.keys, args.concurrency)

            moto.set_latency(args.latency)
            try:
                # First requests pay for connections, auth.test and lazy imports: not timed.
                for kind in KINDS:
                    await apps.round(kind, args.per_round, args.concurrency, timed=False)
                print("phase: idle", file=sys.stderr)
                phases.append(await phase(PHASES[0], apps, args, processes))
                if args.idle_only:
                    return Result(phases, 0, math.nan, load_before, common.load_average(), stopped)
                print("phase: bulk run executing", file=sys.stderr)
                clicked = time.perf_counter()
                answer = await apps.serve.block_action(
                    APPROVER, channel_id=CHANNEL, message_ts=bulk_ts, action_id=ids.APPROVE_ACTION
                )
                if answer.status != 200:
                    raise RuntimeError(f"the bulk approval was answered {answer.status}")
                during = await phase(
                    PHASES[1],
                    apps,
                    args,
                    processes,
                    lambda: not common._final(api.message(CHANNEL, bulk_ts)),
                )
                phases.append(during)
                if not all(during.rounds.values()):
                    raise RuntimeError(
                        "the bulk run ended before a round of each kind did: fewer "
                        "--per-round, or more --users"
                    )
                final = await api.wait_for(
                    lambda: (m := api.message(CHANNEL, bulk_ts)) and common._final(m) and m,
                    timeout=args.drain_timeout,
                    what="the bulk run's final status",
                )
                ended = time.perf_counter()
            finally:
                moto.set_latency(0)
            if ": completed." not in final.text:
                raise RuntimeError(f"the bulk run did not complete: {final.text[:300]}")
    states = await asyncio.to_thread(bulk.statuses)
    if active := [cid for _, cid in made if states.get(cid) != "Inactive"]:
        raise RuntimeError(f"{len(active)} keys of the bulk run are still Active")
    return Result(
        phases,
        len(made),
        ended - clicked,
        load_before,
        common.load_average(),
        stopped,
    )


# ---------------------------------------------------------------------- report


def verdicts(result: Result) -> list[tuple[str, bool]]:
    out = []
    for p in result.phases:
        slash, minimal = p.stats[SERVE_SLASH].p99, p.stats[MINIMAL].p99
        out.append(
            (
                f"{p.name}: serve's slash-command p99 {slash:.1f} ms is "
                f"{slash / minimal:.2f}x the minimal Bolt app's {minimal:.1f} ms "
                f"(target ≤ {TARGET_RATIO}x; "
                f"{slash / p.stats[MINIMAL_PBR].p99:.2f}x the process_before_response one's)",
                slash <= TARGET_RATIO * minimal,
            )
        )
    during = result.phases[-1].stats
    for kind in (SERVE_SLASH, SERVE_APPROVE) if len(result.phases) > 1 else ():
        out.append(
            (
                f"{PHASES[1]}: {kind} p99 {during[kind].p99:.1f} ms "
                f"(target < {TARGET_P99_MS:.0f} ms)",
                during[kind].p99 < TARGET_P99_MS,
            )
        )
    return out


def markdown(result: Result, args: argparse.Namespace, command: str) -> str:
    lines = [
        *common.report_head(command, result.load_before, result.load_after),
        f"Load: {args.concurrency} concurrent senders; per phase up to {args.rounds} rounds "
        f"of {args.per_round} requests per row, the rows in turn (during the bulk run only "
        f"rounds that ended before it did count); IAM calls delayed "
        f"{args.latency * 1000:.0f} ms. Bulk run: {result.bulk_keys} keys, "
        f"REVOKER_BULK_CONCURRENCY={args.bulk_concurrency}, approve click → final status "
        f"{result.bulk_seconds:.1f} s.",
        "",
        "| phase | app: request | rounds | n | errors | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for p in result.phases:
        for s in p.stats.values():
            lines.append(
                f"| {p.name} | {s.kind} | {p.rounds[s.kind]} | {s.n} | {s.errors} | "
                f"{s.p50:.1f} | {s.p95:.1f} | {s.p99:.1f} | {s.max:.1f} |"
            )
    lines.append("")
    for p in result.phases:
        cpu = ", ".join(f"{n} {share:.0%}" for n, share in p.cpu.items())
        lines.append(
            f"CPU used during the {p.name} phase ({p.seconds:.1f} s): {cpu}; serve's event-loop "
            f"thread was runnable but without a CPU for {p.waited:.0%} of it."
        )
    lines.append("")
    for text, met in verdicts(result):
        lines.append(f"- {'met' if met else 'NOT met'}: {text}.")
    stopped = result.stopped
    levels = ", ".join(f"{n} {level}" for level, n in sorted(stopped.log_levels.items()))
    lines += [
        "",
        f"Stop: SIGTERM, serve exited {stopped.exit_code} after {stopped.seconds:.2f} s; its "
        f"log: {levels or 'empty'}.",
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=500, help="users with 2 keys each (500)")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per IAM call")
    parser.add_argument("--bulk-concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5, help="rounds per phase (5)")
    parser.add_argument("--per-round", type=int, default=40, help="requests per round (40)")
    parser.add_argument("--concurrency", type=int, default=20, help="concurrent senders (20)")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    parser.add_argument(
        "--idle-only", action="store_true", help="the idle phase only (a quick comparison)"
    )
    parser.add_argument("--write", type=Path, metavar="FILE", help="update FILE (markdown)")
    args = parser.parse_args(argv)
    if args.idle_only and args.write:
        parser.error("--write needs both phases")
    if min(args.users, args.rounds, args.per_round, args.concurrency) < 1:
        parser.error("--users, --rounds, --per-round and --concurrency must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    with common.moto_server("process") as moto:
        common._use_aws(moto.url)

        async def run() -> Result:
            async with asyncio.timeout(args.timeout):
                return await benchmark(args, moto)

        try:
            result = asyncio.run(run())
        except TimeoutError:
            print(f"gave up after --timeout {args.timeout:g} s", file=sys.stderr)
            return 2
    shown = common.without_write(argv)
    report = markdown(result, args, " ".join(["python", "benchmarks/ack_under_load.py", *shown]))
    common.publish(report, args.write, "ack-under-load")
    errors = sum(s.errors for p in result.phases for s in p.stats.values())
    stopped = result.stopped
    unclean = stopped.exit_code != 0 or any(
        stopped.log_levels.get(level) for level in ("ERROR", "CRITICAL", "non-JSON")
    )
    missed = not all(met for _, met in verdicts(result))
    no_bulk_run = not args.idle_only and math.isnan(result.bulk_seconds)
    return 1 if errors or unclean or missed or no_bulk_run else 0


if __name__ == "__main__":
    sys.exit(main())
