"""Ack latency: how long Slack waits for the app's HTTP 200, under concurrent load.

    python benchmarks/ack_latency.py                      # 200 measured requests of each kind
    python benchmarks/ack_latency.py --in-process         # the app in this process (comparison)
    python benchmarks/ack_latency.py --requests 500 --warmup 40 --concurrency 20
    python benchmarks/ack_latency.py --write docs/benchmarks.md

The app runs as production runs it (default): `bedrock-revoker serve` in a process of its own,
HTTP mode on 127.0.0.1 and a free port, configured only by environment: SLACK_API_URL at the
Slack Web API stand-in this process serves, AWS_ENDPOINT_URL at moto's HTTP server (a child
process, with the sandbox's service-specific-credential operations) and fake credentials, a
SQLite file in a temporary directory, JSON logs to a file in it. The benchmark starts timing
once serve logs "serving Slack over HTTP" (written after the port is bound), and ends it with
SIGTERM, checking that serve exits 0 and logs no error while it finishes its in-flight work.
With `--in-process` the app (`bot.sandbox.harness.sandbox`) shares this process and its event
loop with the stand-in and the senders instead, as the end-to-end tests run it.

`concurrency` senders send signed requests (the sandbox's driver, as Slack signs them), each
sending its next request as soon as the previous one is answered. Three kinds are timed, each
through the real flow:

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
app is stopped only when every execution has finished. The CPU time each process used during
the rounds is reported with the figures (on a small machine they compete for the same cores).

Bounded: `--timeout` for the whole run, `--drain-timeout` for one round's background work.
Everything is loopback; nothing leaves the machine; every child process is stopped on the way
out, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import datetime as dt
import json
import math
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import boto3

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `python benchmarks/ack_latency.py` from a plain checkout
    sys.path.insert(0, str(REPO))

from bot.sandbox import iam as sandbox_iam  # noqa: E402
from bot.sandbox.harness import (  # noqa: E402
    APPROVER,
    APPROVER_GROUP,
    CHANNEL,
    GROUP_APPROVER,
    REQUESTER,
    sandbox,
    workspace,
)
from bot.sandbox.slack_api import Message, SlackApiStandIn  # noqa: E402
from bot.sandbox.slack_driver import Response, SlackDriver, plain_text_input  # noqa: E402
from bot.views import ids  # noqa: E402

BEDROCK = "bedrock.amazonaws.com"
REGION = "us-east-1"
KINDS = ("slash_command", "view_submission", "block_actions (Approve)")
TARGET_P99_MS = 100.0
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


def aws_environment(endpoint: str) -> dict[str, str]:
    """Fake credentials, one region, every boto3 client pointed at the local moto server."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def _use_aws(endpoint: str) -> None:
    """This process's boto3 (and an in-process app's) on the local moto server, nothing else."""
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
    os.environ.update(aws_environment(endpoint))


_MOTO_CHILD = """
import sys
from bot.sandbox.iam import sandbox_server, set_latency
with sandbox_server() as url:
    print(url, flush=True)
    for line in sys.stdin:  # `latency <seconds>` lines, until the parent closes our stdin
        set_latency(float(line.split()[1]))
        print("ok", flush=True)
"""


@dataclass(frozen=True)
class Moto:
    url: str
    pid: int | None  # None when it runs in a thread of this process
    # Every IAM call then takes this many seconds before moto answers (IAM's own latency).
    set_latency: Callable[[float], None] = sandbox_iam.set_latency


@contextlib.contextmanager
def moto_server(mode: str) -> Iterator[Moto]:
    """moto's HTTP server (with the sandbox's credential operations) on 127.0.0.1."""
    if mode == "thread":
        with sandbox_iam.sandbox_server() as url:
            yield Moto(url, None)
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
        stdin, stdout = child.stdin, child.stdout

        def set_latency(seconds: float) -> None:
            stdin.write(f"latency {seconds}\n")
            stdin.flush()
            if stdout.readline().strip() != "ok":
                raise RuntimeError("moto server did not take the latency")

        yield Moto(url, child.pid, set_latency)
    finally:
        if child.stdin is not None:
            child.stdin.close()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=5)
        if child.stdout is not None:
            child.stdout.close()


def create_keys(count: int) -> list[str]:
    """`count` IAM users in moto, each with one Bedrock API key; the leaked key strings."""
    iam = boto3.Session(region_name=REGION).client("iam")
    keys = []
    for i in range(count):
        user = f"BedrockAPIKey-bench{i:05d}"
        iam.create_user(UserName=user)
        cred = iam.create_service_specific_credential(UserName=user, ServiceName=BEDROCK)
        keys.append(cred["ServiceSpecificCredential"]["ServiceCredentialSecret"])
    return keys


# ---------------------------------------------------------------------- the app under test


@dataclass(frozen=True)
class Target:
    """What the senders talk to: the app's events URL, its secret and the Slack stand-in."""

    api: SlackApiStandIn
    app_url: str
    signing_secret: str
    pid: int | None  # the app's own process; None when it runs in this one
    log: Path | None = None


@dataclass
class Stopped:
    """How the app process ended: SIGTERM, then its in-flight work, then exit."""

    exit_code: int | None = None
    seconds: float = math.nan
    log_levels: dict[str, int] = field(default_factory=dict)


READY_LINE = "serving Slack over HTTP"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def serve_command() -> list[str]:
    """`bedrock-revoker serve`, the installed console script of this interpreter's venv."""
    script = shutil.which("bedrock-revoker", path=str(Path(sys.executable).parent))
    return [script, "serve"] if script else [sys.executable, "-m", "bot", "serve"]


def serve_environment(
    api: SlackApiStandIn, secret: str, port: int, workdir: Path
) -> dict[str, str]:
    """All of serve's configuration, as an operator would set it; nothing else is inherited."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env.update(aws_environment(os.environ["AWS_ENDPOINT_URL"]))
    env.update(
        {
            "SLACK_BOT_TOKEN": api.bot_token,
            "SLACK_SIGNING_SECRET": secret,
            "SLACK_API_URL": api.base_url,
            "REVOKER_MODE": "http",
            "REVOKER_HOST": "127.0.0.1",
            "REVOKER_PORT": str(port),
            "REVOKER_DATABASE_URL": f"sqlite:///{workdir / 'revoker.db'}",
            "REVOKER_APPROVER_USER_IDS": APPROVER,
            "REVOKER_APPROVER_USERGROUP_IDS": APPROVER_GROUP,
            "REVOKER_LOG_FORMAT": "json",
        }
    )
    return env


@contextlib.asynccontextmanager
async def app_process(
    workdir: Path,
    stopped: Stopped,
    *,
    ready_timeout: float = 30.0,
    stop_timeout: float = 30.0,
    settings: dict[str, str] | None = None,
) -> AsyncIterator[Target]:
    """`bedrock-revoker serve` in its own process against a Slack stand-in served here."""
    async with SlackApiStandIn() as api:
        workspace(api)
        secret = secrets.token_hex(16)
        port = free_port()
        log_path = workdir / "serve.log"
        proc = await asyncio.create_subprocess_exec(
            *serve_command(),
            env={**serve_environment(api, secret, port, workdir), **(settings or {})},
            cwd=workdir,  # no stray .env is read
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            limit=1 << 20,
        )
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def copy_log() -> None:
            # The pipe is drained all along (a full pipe would block the app's logging).
            assert proc.stderr is not None
            with log_path.open("w") as log:
                async for raw in proc.stderr:
                    line = raw.decode(errors="replace")
                    log.write(line)
                    if not ready.done() and READY_LINE in line:
                        ready.set_result(None)
                    try:
                        level = str(json.loads(line)["level"])
                    except (ValueError, KeyError, TypeError):
                        level = "non-JSON"  # e.g. a traceback the interpreter printed itself
                    stopped.log_levels[level] = stopped.log_levels.get(level, 0) + 1
            if not ready.done():
                ready.set_exception(RuntimeError(f"serve exited before serving; see {log_path}"))

        copier = asyncio.create_task(copy_log())
        try:
            async with asyncio.timeout(ready_timeout):
                await ready
            print(f"serve is up: pid {proc.pid}, port {port}", file=sys.stderr)
            yield Target(api, f"http://127.0.0.1:{port}/slack/events", secret, proc.pid, log_path)
            clock = time.perf_counter()
            with contextlib.suppress(ProcessLookupError):  # it may have ended by itself
                proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(stop_timeout):
                stopped.exit_code = await proc.wait()
            stopped.seconds = time.perf_counter() - clock
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await copier
            copier.cancel()
            for line in log_path.read_text(errors="replace").splitlines():
                if not line.startswith("{") or any(
                    f'"level": "{level}"' in line for level in ("ERROR", "CRITICAL")
                ):
                    print(f"serve logged: {line[:500]}", file=sys.stderr)


@contextlib.asynccontextmanager
async def app_in_process() -> AsyncIterator[Target]:
    # The sandbox, like serve, lets listener work still running finish before it closes.
    async with sandbox() as sb:
        secret = sb.settings.slack_signing_secret
        assert secret is not None
        yield Target(sb.api, sb.app_url, secret.get_secret_value(), None)


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process so far (this one when `pid` is None)."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def waited_seconds(pid: int | None) -> float:
    """How long a process's main thread (its event loop) was runnable but had no CPU, so far."""
    pid = pid or os.getpid()
    try:
        return int(Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return math.nan


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

    api: SlackApiStandIn
    driver: TimedDriver
    keys: list[str]
    drain_timeout: float
    views: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # request message ts, in posting order

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
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds during the rounds
    rounds_seconds: float = math.nan
    stopped: Stopped | None = None  # how the app process ended (None: in-process)
    round_cpu: dict[str, tuple[float, dict[str, tuple[float, float]]]] = field(default_factory=dict)


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
    moto: Moto,
    in_process: bool,
) -> Result:
    started = time.perf_counter()
    load_before = load_average()
    total = warmup + requests
    stopped = None if in_process else Stopped()
    cpu: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="ack-latency-") as tmp:
        async with contextlib.AsyncExitStack() as stack:
            if stopped is None:
                target = await stack.enter_async_context(app_in_process())
            else:
                target = await stack.enter_async_context(app_process(Path(tmp), stopped))
            driver = TimedDriver(
                target.app_url, target.signing_secret, target.api, request_timeout=drain_timeout
            )
            await stack.enter_async_context(driver)
            print(f"creating {total} keys in moto at {moto.url} ...", file=sys.stderr)
            keys = await asyncio.to_thread(create_keys, total)
            flow = Flow(target.api, driver, keys, drain_timeout)
            here = "benchmark" if target.pid else "benchmark (with the app)"
            processes = {"app": target.pid, "moto": moto.pid, here: None}
            meter = Meter({n: pid for n, pid in processes.items() if n == here or pid})
            before = meter.now()
            clock = time.perf_counter()
            drain = await _rounds(flow, meter, warmup, total, concurrency)
            rounds_seconds = time.perf_counter() - clock
            cpu = {name: used - before[name][0] for name, (used, _) in meter.now().items()}
            executions = flow.outcomes(flow.requests)
            if target.log is not None:
                print(f"serve's log: {target.log} (removed at exit)", file=sys.stderr)
    stats = [Stats.of(k, [s for s in driver.samples if s.kind == k]) for k in KINDS]
    return Result(
        stats,
        executions,
        drain,
        time.perf_counter() - started,
        load_before,
        load_average(),
        cpu,
        rounds_seconds,
        stopped,
        meter.rounds,
    )


@dataclass
class Meter:
    """Per process, while one measured round's requests were being acked: CPU time used, and
    time its event-loop thread was ready to run but waited for a CPU (the machine's doing)."""

    processes: dict[str, int | None]  # name -> pid (None: this process)
    rounds: dict[str, tuple[float, dict[str, tuple[float, float]]]] = field(default_factory=dict)

    def now(self) -> dict[str, tuple[float, float]]:
        return {n: (cpu_seconds(pid), waited_seconds(pid)) for n, pid in self.processes.items()}

    @contextlib.asynccontextmanager
    async def round(self, kind: str) -> AsyncIterator[None]:
        if not kind:  # warm-up
            yield
            return
        wall, before = time.perf_counter(), self.now()
        yield
        after = self.now()
        self.rounds[kind] = (
            time.perf_counter() - wall,
            {
                name: (after[name][0] - before[name][0], after[name][1] - before[name][1])
                for name in before
            },
        )


async def _rounds(flow: Flow, meter: Meter, warmup: int, total: int, concurrency: int) -> float:
    """Warm-up then measured round of each kind; returns the measured backlog's drain time."""
    rounds = (("warm-up", slice(0, warmup)), ("measured", slice(warmup, total)))

    for name, part in rounds:
        label = KINDS[0] if name == "measured" else ""
        async with meter.round(label):
            await run_round(label, flow.keys[part], flow.command, concurrency)
        await flow.opened(part.stop)
    flow.views = await flow.opened(total)

    for name, part in rounds:
        label = KINDS[1] if name == "measured" else ""
        async with meter.round(label):
            await run_round(label, flow.views[part], flow.submission, concurrency)
        await flow.posted(part.stop)
    flow.requests = messages = await flow.posted(total)

    drain = 0.0
    for name, part in rounds:
        label = KINDS[2] if name == "measured" else ""
        batch = list(enumerate(messages))[part]
        async with meter.round(label):
            await run_round(label, batch, flow.approval, concurrency)
        acked = time.perf_counter()
        await flow.finished(messages[part])
        if name == "measured":
            drain = time.perf_counter() - acked
    return drain


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


def report_head(command: str, load_before: str, load_after: str) -> list[str]:
    """The command and the machine it ran on, first lines of every report."""
    m = machine()
    return [
        f"Command: `{command}`",
        "",
        f"Machine: {m['nproc']} CPUs (`nproc`), {m['cpu']}; {m['python']}; {m['os']}; "
        f"run {m['date']}; 1-min load average {load_before} before, {load_after} after.",
        "",
    ]


def markdown(result: Result, args: argparse.Namespace, command: str) -> str:
    where = (
        "in this process, sharing its event loop with the Slack stand-in and the senders"
        if args.in_process
        else "`bedrock-revoker serve` in its own process (HTTP mode, JSON logs at INFO)"
    )
    lines = [
        *report_head(command, result.load_before, result.load_after),
        f"Load: {args.concurrency} concurrent senders, {args.requests} measured requests of "
        f"each kind after {args.warmup} warm-up requests of each kind (excluded). App: {where}; "
        f"AWS: moto server ({args.moto}); Slack Web API: stand-in in the benchmark process.",
        "",
        "| request | n | errors | p50 ms | p95 ms | p99 ms | max ms | mean ms "
        "| while acking: CPU used (loop thread waiting for a CPU) |",
        "|---|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for s in result.stats:
        wall, used = result.round_cpu.get(s.kind, (math.nan, {}))
        busy = ", ".join(
            f"{name} {cpu / wall:.0%} ({waited / wall:.0%})" for name, (cpu, waited) in used.items()
        )
        lines.append(
            f"| {s.kind} | {s.n} | {s.errors} | {s.p50:.1f} | {s.p95:.1f} | {s.p99:.1f} | "
            f"{s.max:.1f} | {s.mean:.1f} | {busy} in {wall:.1f} s |"
        )
    worst = max((s.p99 for s in result.stats), default=math.nan)
    verdict = "met" if worst < TARGET_P99_MS else "NOT met"
    done = ", ".join(f"{n} {w}" for w, n in sorted(result.executions.items()))
    cpu = ", ".join(
        f"{name} {seconds:.1f} s ({seconds / result.rounds_seconds:.0%} of a CPU)"
        for name, seconds in result.cpu.items()
    )
    lines += [
        "",
        f"Target p99 < {TARGET_P99_MS:.0f} ms (Slack allows 3,000 ms): {verdict} "
        f"(worst p99 {worst:.1f} ms).",
        f"Executions after the Approve clicks: {done}; the measured round's backlog drained "
        f"{result.drain_seconds:.1f} s after its last ack. Whole run: "
        f"{result.wall_seconds:.1f} s.",
        f"CPU time during the {result.rounds_seconds:.1f} s of rounds (warm-up, measured, "
        f"background work): {cpu}.",
    ]
    if (stopped := result.stopped) is not None:
        levels = ", ".join(f"{n} {level}" for level, n in sorted(stopped.log_levels.items()))
        lines.append(
            f"Stop: SIGTERM, serve exited {stopped.exit_code} after {stopped.seconds:.2f} s; "
            f"its log: {levels or 'empty'}."
        )
    return "\n".join(lines) + "\n"


DOC_HEAD = """# Benchmarks

## Ack latency

`benchmarks/ack_latency.py` (its docstring says exactly what is measured and how). Slack gives
an app 3 seconds to answer a slash command, a click or a modal submission; the target here is a
p99 under 100 ms with the AWS work of every approval running in the background.

"""


def marks(in_process: bool) -> tuple[str, str]:
    """Each mode has its own generated block in the document."""
    name = "ack-latency-in-process" if in_process else "ack-latency"
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def write_doc(path: Path, section: str, *, in_process: bool) -> None:
    start, end = marks(in_process)
    block = f"{start}\n{section}{end}"
    if path.exists():
        text = path.read_text()
        if start in text and end in text:
            head, _, rest = text.partition(start)
            _, _, tail = rest.partition(end)
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
        "--in-process",
        action="store_true",
        help="run the app in this process and event loop (as the e2e tests do) instead of "
        "as `bedrock-revoker serve` in a process of its own",
    )
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


def publish(report: str, path: Path | None, section: str) -> None:
    """Print `report` and, with `path`, put it in that document's generated `section` (its
    `<!-- section:start -->` … `<!-- section:end -->` block, which must be there already)."""
    print(report)
    if path is None:
        return
    start, end = f"<!-- {section}:start -->", f"<!-- {section}:end -->"
    text = path.read_text()
    if start not in text or end not in text:
        raise SystemExit(f"{path} has no {start} … {end} section to replace")
    head, _, rest = text.partition(start)
    _, _, tail = rest.partition(end)
    path.write_text(f"{head}{start}\n{report.rstrip()}\n{end}{tail}")
    print(f"wrote {path}", file=sys.stderr)


def without_write(argv: Sequence[str]) -> list[str]:
    """The command as run, minus where the report was written (`--write FILE`)."""
    shown: list[str] = []
    skip = False
    for arg in argv:
        if skip or arg.startswith("--write="):
            skip = False
        elif arg == "--write":
            skip = True
        else:
            shown.append(arg)
    return shown


def command_line(argv: Sequence[str]) -> str:
    return " ".join(["python", "benchmarks/ack_latency.py", *argv])


async def _main(args: argparse.Namespace, moto: Moto) -> Result:
    async with asyncio.timeout(args.timeout):
        return await benchmark(
            requests=args.requests,
            warmup=args.warmup,
            concurrency=args.concurrency,
            drain_timeout=args.drain_timeout,
            moto=moto,
            in_process=args.in_process,
        )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    # moto starts and stops outside the event loop: its start-up never stalls the app's loop.
    with moto_server(args.moto) as moto:
        _use_aws(moto.url)
        try:
            result = asyncio.run(_main(args, moto))
        except TimeoutError:
            print(f"gave up after --timeout {args.timeout:g} s", file=sys.stderr)
            return 2
    report = markdown(result, args, command_line(without_write(argv)))
    print(report)
    if args.write:
        write_doc(args.write, report, in_process=args.in_process)
        print(f"wrote {args.write}", file=sys.stderr)
    failed = sum(s.errors for s in result.stats) + sum(
        n for w, n in result.executions.items() if w != "completed"
    )
    stopped = result.stopped
    if stopped is not None and (
        stopped.exit_code != 0
        or any(stopped.log_levels.get(level) for level in ("ERROR", "CRITICAL", "non-JSON"))
    ):
        failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
