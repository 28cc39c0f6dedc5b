"""Ack latency: how long Slack waits for the app's HTTP 200, under concurrent load.

    python benchmarks/ack_latency.py                      # 200 measured requests of each kind
    python benchmarks/ack_latency.py --requests 500 --warmup 40 --concurrency 20
    python benchmarks/ack_latency.py --write docs/benchmarks.md

The real app (`bot.sandbox.harness.sandbox`: Bolt on aiohttp, served on 127.0.0.1) receives
signed requests from `concurrency` senders, each sending its next request as soon as the
previous one is answered. Three kinds are timed, each through the real flow:

1. `slash_command`: `/revoke-bedrock-key <key>`; after the ack the app calls `views.open`.
2. `view_submission`: the opened modal submitted with a reason; after the ack the app resolves
   the key in IAM, stores the request and posts it with its plan reply.
3. `block_actions` (Approve): each click approves a different pending request, from an
   approver (alternately a configured user and a member of the approver user group); after
   the ack the app records the approval and executes the plan against IAM (deactivate, verify,
   thread replies). The background executions pile up while later clicks are being acked,
   which is the point: the ack must not wait on AWS.

The time measured runs from the driver starting the POST of the already signed request to the
app's whole HTTP response having been read (building and signing the payload is outside it).
Warm-up rounds run first and are excluded; after every round the app's background work is
awaited (event-based, via the Slack stand-in's `wait_for`) so rounds do not overlap, and the
process exits only when every execution has finished.

AWS is moto's HTTP server in a child process (default; `--moto thread` runs it in a thread of
this process, as the e2e tests do, at the cost of sharing the GIL with the app). Slack's Web
API is the in-process stand-in. Everything is loopback; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import datetime as dt
import math
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `python benchmarks/ack_latency.py` from a plain checkout
    sys.path.insert(0, str(REPO))

from bot.sandbox import iam as sandbox_iam  # noqa: E402
from bot.sandbox.harness import (  # noqa: E402
    APPROVER,
    CHANNEL,
    GROUP_APPROVER,
    REQUESTER,
    Sandbox,
    sandbox,
)
from bot.sandbox.slack_api import Message, SlackApiStandIn  # noqa: E402
from bot.sandbox.slack_driver import Response, SlackDriver, plain_text_input  # noqa: E402
from bot.views import ids  # noqa: E402

BEDROCK = "bedrock.amazonaws.com"
REGION = "us-east-1"
KINDS = ("slash_command", "view_submission", "block_actions (Approve)")
TARGET_P99_MS = 100.0
START_MARK = "<!-- ack-latency:start -->"
END_MARK = "<!-- ack-latency:end -->"
FINAL_WORDS = ("completed", "partially completed", "failed")

_label: contextvars.ContextVar[str] = contextvars.ContextVar("label", default="")


# ---------------------------------------------------------------------- measuring


@dataclass
class Sample:
    kind: str
    seconds: float
    status: int


class TimedDriver(SlackDriver):
    """The sandbox's signed driver, timing only the HTTP exchange of each request."""

    def __init__(self, *args: Any, request_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.samples: list[Sample] = []
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)

    async def post_raw(self, body: bytes, headers: Mapping[str, str]) -> Response:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        started = time.perf_counter()
        async with self._session.post(self.app_url, data=body, headers=dict(headers)) as res:
            text = await res.text()
            elapsed = time.perf_counter() - started
        if label := _label.get():
            self.samples.append(Sample(label, elapsed, res.status))
        return Response(res.status, text, dict(res.headers))


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class Stats:
    kind: str
    n: int
    errors: int
    p50: float
    p95: float
    p99: float
    max: float
    mean: float

    @classmethod
    def of(cls, kind: str, samples: Sequence[Sample]) -> Stats:
        ms = sorted(s.seconds * 1000 for s in samples)
        if not ms:
            return cls(kind, 0, 0, *(math.nan,) * 5)
        return cls(
            kind,
            len(ms),
            sum(1 for s in samples if s.status != 200),
            percentile(ms, 50),
            percentile(ms, 95),
            percentile(ms, 99),
            ms[-1],
            sum(ms) / len(ms),
        )


# ---------------------------------------------------------------------- AWS (moto over HTTP)


def _aws_environment(endpoint: str) -> None:
    """Fake credentials, one region, every boto3 client pointed at the local moto server."""
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_ENDPOINT_URL_IAM",
        "AWS_ENDPOINT_URL_STS",
        "AWS_BEARER_TOKEN_BEDROCK",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):
        os.environ.pop(name, None)
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )


_MOTO_CHILD = """
import sys
from bot.sandbox.iam import sandbox_server
with sandbox_server() as url:
    print(url, flush=True)
    sys.stdin.read()  # until the parent closes our stdin
"""


@contextlib.contextmanager
def moto_server(mode: str) -> Iterator[str]:
    """moto's HTTP server (with the sandbox's credential operations) on 127.0.0.1."""
    if mode == "thread":
        with sandbox_iam.sandbox_server() as url:
            yield url
        return
    child = subprocess.Popen(  # noqa: S603 (our own interpreter, a fixed script)
        [sys.executable, "-c", _MOTO_CHILD],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        url = child.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"moto server did not start (got {url!r})")
        yield url
    finally:
        if child.stdin is not None:
            child.stdin.close()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.terminate()
            child.wait(timeout=5)
        if child.stdout is not None:
            child.stdout.close()


def create_keys(sb: Sandbox, count: int) -> list[str]:
    """`count` IAM users in moto, each with one Bedrock API key; the leaked key strings."""
    iam = sb.iam()
    keys = []
    for i in range(count):
        user = f"BedrockAPIKey-bench{i:05d}"
        iam.create_user(UserName=user)
        cred = iam.create_service_specific_credential(UserName=user, ServiceName=BEDROCK)
        keys.append(cred["ServiceSpecificCredential"]["ServiceCredentialSecret"])
    return keys


# ---------------------------------------------------------------------- load


async def run_round(
    kind: str,
    items: Sequence[Any],
    send: Callable[[Any], Awaitable[Response]],
    concurrency: int,
) -> None:
    """`concurrency` senders, each sending its next item once the previous one is answered."""
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)

    async def sender() -> None:
        _label.set(kind)
        while True:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            res = await send(item)
            if res.status != 200:
                print(f"  {kind}: HTTP {res.status}: {res.text[:200]}", file=sys.stderr)

    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(sender())


def _final(message: Message | None) -> bool:
    text = message.text.lower() if message else ""
    return any(f": {word}." in text for word in FINAL_WORDS)


@dataclass
class Flow:
    """The three kinds of request, each fed by what the previous kind produced."""

    sb: Sandbox
    driver: TimedDriver
    keys: list[str]
    drain_timeout: float
    views: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # request message ts, in posting order

    @property
    def api(self) -> SlackApiStandIn:
        return self.sb.api

    async def command(self, key: str) -> Response:
        return await self.driver.slash_command(REQUESTER, CHANNEL, text=key)

    async def submission(self, view_id: str) -> Response:
        values = {ids.REASON_BLOCK: {ids.REASON_ACTION: plain_text_input("INC-4242: bench")}}
        return await self.driver.view_submission(REQUESTER, view_id=view_id, values=values)

    async def approval(self, number_and_ts: tuple[int, str]) -> Response:
        number, ts = number_and_ts
        approver = APPROVER if number % 2 == 0 else GROUP_APPROVER  # user id / user group
        return await self.driver.block_action(
            approver, channel_id=CHANNEL, message_ts=ts, action_id=ids.APPROVE_ACTION
        )

    # Background work is awaited outside the timed rounds, so these predicates may scan.

    async def opened(self, total: int) -> list[str]:
        views = await self.api.wait_for(
            lambda: (v := self.api.views()) and len(v) >= total and v,
            timeout=self.drain_timeout,
            what=f"{total} modals opened",
        )
        return [v.id for v in views]

    async def posted(self, total: int) -> list[str]:
        def ready() -> list[str] | None:
            messages = self.api.messages(CHANNEL)
            if len(messages) < total:
                return None
            if not all(self.api.thread(CHANNEL, m.ts) for m in messages):
                return None
            return [m.ts for m in messages]

        return await self.api.wait_for(
            ready, timeout=self.drain_timeout, what=f"{total} requests posted"
        )

    async def finished(self, ts_list: Sequence[str]) -> None:
        await self.api.wait_for(
            lambda: all(_final(self.api.message(CHANNEL, ts)) for ts in ts_list),
            timeout=self.drain_timeout,
            what=f"{len(ts_list)} executions finished",
        )

    def outcomes(self, ts_list: Sequence[str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for ts in ts_list:
            message = self.api.message(CHANNEL, ts)
            text = message.text.lower() if message else ""
            word = next((w for w in FINAL_WORDS[::-1] if f": {w}." in text), "unfinished")
            counts[word] = counts.get(word, 0) + 1
        return counts


@dataclass
class Result:
    stats: list[Stats]
    executions: dict[str, int]
    drain_seconds: float
    wall_seconds: float
    load_before: str = ""
    load_after: str = ""


def load_average() -> str:
    """The 1-minute load average: other work on the machine shows up in the latencies."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "n/a"


async def benchmark(
    *,
    requests: int,
    warmup: int,
    concurrency: int,
    drain_timeout: float,
    limit: float,
    moto_url: str,
) -> Result:
    started = time.perf_counter()
    load_before = load_average()
    total = warmup + requests
    async with sandbox() as sb:
        secret = sb.settings.slack_signing_secret
        assert secret is not None
        driver = TimedDriver(
            sb.app_url, secret.get_secret_value(), sb.api, request_timeout=drain_timeout
        )
        async with driver:
            print(f"creating {total} keys in moto at {moto_url} ...", file=sys.stderr)
            keys = await asyncio.to_thread(create_keys, sb, total)
            flow = Flow(sb, driver, keys, drain_timeout)
            try:
                async with asyncio.timeout(limit - (time.perf_counter() - started)):
                    drain = await _rounds(flow, warmup, total, concurrency)
            finally:
                # Bolt runs each listener as a task of its own; the store closes with the
                # sandbox, so let the last ones return first (also when giving up).
                await _settle_tasks()
            executions = flow.outcomes(flow.requests)
    stats = [Stats.of(k, [s for s in driver.samples if s.kind == k]) for k in KINDS]
    return Result(
        stats, executions, drain, time.perf_counter() - started, load_before, load_average()
    )


async def _rounds(flow: Flow, warmup: int, total: int, concurrency: int) -> float:
    """Warm-up then measured round of each kind; returns the measured backlog's drain time."""
    rounds = (("warm-up", slice(0, warmup)), ("measured", slice(warmup, total)))

    for name, part in rounds:
        label = KINDS[0] if name == "measured" else ""
        await run_round(label, flow.keys[part], flow.command, concurrency)
        await flow.opened(part.stop)
    flow.views = await flow.opened(total)

    for name, part in rounds:
        label = KINDS[1] if name == "measured" else ""
        await run_round(label, flow.views[part], flow.submission, concurrency)
        await flow.posted(part.stop)
    flow.requests = messages = await flow.posted(total)

    drain = 0.0
    for name, part in rounds:
        label = KINDS[2] if name == "measured" else ""
        batch = list(enumerate(messages))[part]
        await run_round(label, batch, flow.approval, concurrency)
        acked = time.perf_counter()
        await flow.finished(messages[part])
        if name == "measured":
            drain = time.perf_counter() - acked
    return drain


async def _settle_tasks(limit: float = 10.0) -> None:
    others = {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}
    if others:
        await asyncio.wait(others, timeout=limit)


# ---------------------------------------------------------------------- report


def machine() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    os_name = platform.platform()
    with contextlib.suppress(OSError):
        release = Path("/etc/os-release").read_text()
        if m := re.search(r'^PRETTY_NAME="?([^"\n]*)"?', release, re.M):
            os_name = f"{m.group(1)}, kernel {platform.release()} ({platform.machine()})"
    try:
        cpus = len(os.sched_getaffinity(0))  # what `nproc` prints
    except AttributeError:
        cpus = os.cpu_count() or 0
    return {
        "nproc": str(cpus),
        "cpu": cpu,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": os_name,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def markdown(result: Result, args: argparse.Namespace, command: str) -> str:
    m = machine()
    lines = [
        f"Command: `{command}`",
        "",
        f"Machine: {m['nproc']} CPUs (`nproc`), {m['cpu']}; {m['python']}; {m['os']}; "
        f"run {m['date']}; 1-min load average {result.load_before} before, "
        f"{result.load_after} after.",
        "",
        f"Load: {args.concurrency} concurrent senders, {args.requests} measured requests of "
        f"each kind after {args.warmup} warm-up requests of each kind (excluded); "
        f"AWS: moto server ({args.moto}); Slack Web API: in-process stand-in.",
        "",
        "| request | n | errors | p50 ms | p95 ms | p99 ms | max ms | mean ms |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for s in result.stats:
        lines.append(
            f"| {s.kind} | {s.n} | {s.errors} | {s.p50:.1f} | {s.p95:.1f} | {s.p99:.1f} | "
            f"{s.max:.1f} | {s.mean:.1f} |"
        )
    worst = max((s.p99 for s in result.stats), default=math.nan)
    verdict = "met" if worst < TARGET_P99_MS else "NOT met"
    done = ", ".join(f"{n} {w}" for w, n in sorted(result.executions.items()))
    lines += [
        "",
        f"Target p99 < {TARGET_P99_MS:.0f} ms (Slack allows 3,000 ms): {verdict} "
        f"(worst p99 {worst:.1f} ms).",
        f"Executions after the Approve clicks: {done}; the measured round's backlog drained "
        f"{result.drain_seconds:.1f} s after its last ack. Whole run: "
        f"{result.wall_seconds:.1f} s.",
    ]
    return "\n".join(lines) + "\n"


DOC_HEAD = """# Benchmarks

## Ack latency

`benchmarks/ack_latency.py` (its docstring says exactly what is measured and how). Slack gives
an app 3 seconds to answer a slash command, a click or a modal submission; the target here is a
p99 under 100 ms with the AWS work of every approval running in the background.

"""


def write_doc(path: Path, section: str) -> None:
    block = f"{START_MARK}\n{section}{END_MARK}"
    if path.exists():
        text = path.read_text()
        if START_MARK in text and END_MARK in text:
            head, _, rest = text.partition(START_MARK)
            _, _, tail = rest.partition(END_MARK)
            path.write_text(head + block + tail)
            return
        path.write_text(text.rstrip("\n") + "\n\n" + block + "\n")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(DOC_HEAD + block + "\n")


# ---------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=200, help="measured requests per kind")
    parser.add_argument("--warmup", type=int, default=20, help="warm-up requests per kind")
    parser.add_argument("--concurrency", type=int, default=20, help="concurrent senders")
    parser.add_argument(
        "--moto",
        choices=("process", "thread"),
        default="process",
        help="moto server in a child process (default) or in a thread of this process",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="give up after this many seconds in all (default 300)",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=120.0,
        help="longest wait for one round's background work (default 120)",
    )
    parser.add_argument("--write", type=Path, metavar="FILE", help="update FILE (markdown)")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.warmup < 0 or args.concurrency < 1:
        parser.error("--requests and --concurrency must be positive, --warmup not negative")
    return args


def command_line(argv: Sequence[str]) -> str:
    return " ".join(["python", "benchmarks/ack_latency.py", *argv])


async def _main(args: argparse.Namespace, moto_url: str) -> Result:
    return await benchmark(
        requests=args.requests,
        warmup=args.warmup,
        concurrency=args.concurrency,
        drain_timeout=args.drain_timeout,
        limit=args.timeout,
        moto_url=moto_url,
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    # moto starts and stops outside the event loop: its start-up never stalls the app's loop.
    with moto_server(args.moto) as url:
        _aws_environment(url)
        try:
            result = asyncio.run(_main(args, url))
        except TimeoutError:
            print(f"gave up after --timeout {args.timeout:g} s", file=sys.stderr)
            return 2
    shown: list[str] = []  # the command as run, minus where the report was written
    skip = False
    for arg in argv:
        if skip or arg.startswith("--write="):
            skip = False
        elif arg == "--write":
            skip = True
        else:
            shown.append(arg)
    report = markdown(result, args, command_line(shown))
    print(report)
    if args.write:
        write_doc(args.write, report)
        print(f"wrote {args.write}", file=sys.stderr)
    failed = sum(s.errors for s in result.stats) + sum(
        n for w, n in result.executions.items() if w != "completed"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
