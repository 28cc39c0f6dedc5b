"""`bedrock-revoker demo`: the whole flow, for real, on embedded stand-ins.

Nothing is simulated in the bot itself: the real Bolt app (its handlers, the request store, the
revocation module and boto3) serves on loopback; Slack is the local Web API stand-in plus a driver
that sends signed requests the way Slack does; AWS is moto in this process (with the sandbox's
service-specific credential calls); the request store is a SQLite file in a temporary folder.
No Slack workspace or AWS account is touched: AWS_*, SLACK_* and REVOKER_* variables from the
caller's environment are set aside while the demo runs, and ~/.aws is not read.

The story (long-term key): IAM user `BedrockAPIKey-demo` has a Bedrock API key, which leaks;
@alice runs `/revoke-bedrock-key <the key>`, chooses deactivate and deny_user, submits the modal
with a reason, tries to approve her own request and is refused; @bob, an approver, approves; the
key is deactivated, the deny policy (its JSON is in the plan in the thread) is attached to the
user, and both are verified.
With `short_term=True` the key is a genuine short-term key signed by an assumed session of role
`incident-app-role` and used once (an InvokeModel the sandbox's CloudTrail records); the bot finds
the role from that event, prefills it in the modal with its evidence, and the actions are
`deny_role` and `revoke_sessions`.

The leaked key is never printed: the transcript shows its fingerprint, as the app does, and `main`
refuses to print a transcript that contains it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import logging
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot import keys, policies
from bot.logs import redact
from bot.sandbox import leaks
from bot.sandbox.iam import BEDROCK

DEMO_USER = "BedrockAPIKey-demo"
DEMO_ROLE = "incident-app-role"
REGION = "us-east-1"
LEAKER_IP = "198.51.100.23"
LEAKER_AGENT = "leaked-key-client/0.1"
LONG_TERM_REASON = "INC-4242: Bedrock API key pasted in a public gist"
SHORT_TERM_REASON = "INC-4243: short-term Bedrock key printed in a CI log"
STORE_FILE = "revoker.db"  # what the sandbox names its SQLite store in the folder it is given
FLOW_TIMEOUT = 30.0  # seconds for any one step of the flow; the whole demo takes about one

# Set aside while the demo runs, restored afterwards: nothing may reach a real AWS account or
# Slack workspace, and no deployment setting may change the story.
_ISOLATED_PREFIXES = ("AWS_", "SLACK_", "REVOKER_")
_DEMO_ENV = {
    # moto replaces these with its own fake credentials while it is active; they are here so
    # that nothing, even outside the mock, can find real ones.
    "AWS_ACCESS_KEY_ID": "demo",
    "AWS_SECRET_ACCESS_KEY": "demo",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
_FINAL_WORDS = ("completed", "partially completed", "failed")

Progress = Callable[[str], None]


class DemoFailed(Exception):
    """The flow did not reach the end the demo shows; the message says where it stopped."""


@dataclass(frozen=True)
class DemoResult:
    transcript: str  # what `demo` prints on stdout
    request_id: str
    fingerprint: str
    # The key the story leaked, for tests that prove it is never printed. Never in repr().
    leaked_key: str = field(repr=False)


def _quiet(_: str) -> None:
    pass


def main(*, short_term: bool = False, keep_store: Path | None = None) -> int:
    """The CLI entry point: run the demo, print its transcript, return the exit code. With
    `keep_store`, the request store is left in that folder for `audit export` to read."""
    missing = [m for m in ("moto", "aws_bedrock_token_generator") if not _importable(m)]
    if missing:
        print(
            f"error: the demo needs {' and '.join(missing)}, which come with the `demo` extra: "
            "pip install -e '.[demo]'",
            file=sys.stderr,
        )
        return 1
    if keep_store is not None:
        if (keep_store / STORE_FILE).exists():
            print(
                f"error: {keep_store} already holds a request store; give --keep-store a new or "
                "empty folder",
                file=sys.stderr,
            )
            return 1
        try:
            keep_store.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            print(f"error: cannot create {keep_store} ({exc.strerror})", file=sys.stderr)
            return 1
    try:
        result = run(short_term=short_term, progress=_to_stderr, keep_store=keep_store)
    except DemoFailed as exc:
        print(f"error: the demo did not complete: {redact(str(exc))}", file=sys.stderr)
        return 1
    except Exception as exc:  # anything else is a bug or a broken install: say so in one line
        detail = redact(f"{type(exc).__name__}: {exc}")
        print(f"error: the demo did not complete: {detail}", file=sys.stderr)
        return 1
    if result.leaked_key in result.transcript:  # defence in depth: never print the key
        print(
            "error: the demo's transcript contains the leaked key; not printing it", file=sys.stderr
        )
        return 1
    sys.stdout.write(result.transcript)
    sys.stdout.flush()
    return 0


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run(
    *, short_term: bool = False, progress: Progress = _quiet, keep_store: Path | None = None
) -> DemoResult:
    """Run the whole flow on the stand-ins and return what a person would read. The request
    store is a SQLite file in a temporary folder, or in `keep_store`, which is left in place.

    Raises DemoFailed when a step does not happen as the story says it should.
    """
    from bot.sandbox.iam import mock_iam

    progress("starting moto (IAM, STS) in this process…")
    with (
        contextlib.ExitStack() as folders,
        _isolated_environment(),
        _quiet_logging(),
        mock_iam(),
    ):
        if keep_store is None:
            tmp = folders.enter_context(tempfile.TemporaryDirectory(prefix="bedrock-revoker-demo-"))
            database_dir = Path(tmp)
        else:
            database_dir = keep_store.resolve()
        flow_type = _ShortTermFlow if short_term else _LongTermFlow
        flow = flow_type(progress, database_dir, kept=keep_store is not None)
        try:
            result = asyncio.run(flow.run())
        except TimeoutError as exc:
            raise DemoFailed(f"{flow.step}: timed out.\n{exc}") from None
        # The store is closed now: the key must be nowhere in it (database, WAL, journal).
        for path in database_dir.iterdir():
            if result.leaked_key.encode() in path.read_bytes():
                raise DemoFailed(f"the leaked key was found in the request store ({path.name})")
    return result


@contextlib.contextmanager
def _isolated_environment() -> Iterator[None]:
    saved = {k: v for k, v in os.environ.items() if k.startswith(_ISOLATED_PREFIXES)}
    for name in saved:
        del os.environ[name]
    os.environ.update(_DEMO_ENV)
    try:
        yield
    finally:
        for name in [k for k in os.environ if k.startswith(_ISOLATED_PREFIXES)]:
            del os.environ[name]
        os.environ.update(saved)


@contextlib.contextmanager
def _quiet_logging() -> Iterator[None]:
    """Warnings and errors only (to stderr, redacted), for the demo's duration."""
    from bot.logs import NOISY_LOGGERS, configure_logging

    root = logging.getLogger()
    names = (*NOISY_LOGGERS, "werkzeug", "moto")
    saved_levels = {name: logging.getLogger(name).level for name in names}
    saved_root = root.level
    handler = configure_logging("text", level="WARNING")
    for name in ("werkzeug", "moto"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(saved_root)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)


# --------------------------------------------------------------------------------------------
# The flow


def _section(title: str) -> str:
    return f"\n{title}\n{'-' * len(title)}\n"


def _indent(text: str, prefix: str = "    ") -> str:
    return "".join(prefix + line if line.strip() else line for line in text.splitlines(True))


class _Flow:
    """Steps shared by both stories; subclasses arrange the leak and read IAM back."""

    title = ""
    reason = ""

    def __init__(self, progress: Progress, database_dir: Path, *, kept: bool = False) -> None:
        self.progress = progress
        self.database_dir = database_dir
        self.kept = kept
        self.step = "starting"
        self.key = ""
        self.fingerprint = ""

    def _kept_store(self) -> list[str]:
        return _kept_store_lines(self.database_dir) if self.kept else []

    def say(self, step: str) -> None:
        self.step = step
        self.progress(step + "…")

    # -- to override

    def arrange(self, iam: Any) -> str:
        """Create the leaked key in IAM; return it."""
        raise NotImplementedError

    def story(self) -> list[str]:
        """What happened, numbered, as the reader should follow it."""
        raise NotImplementedError

    def modal_values(self) -> dict[str, dict[str, Any]]:
        raise NotImplementedError

    def read_back(self, iam: Any) -> tuple[str, list[str]]:
        """(IAM's state as text, problems if the end state is not what the story promised)."""
        raise NotImplementedError

    async def after_open(self, api: Any) -> None:
        """Wait for whatever the bot adds to the modal after opening it."""

    # -- the flow

    async def run(self) -> DemoResult:
        from bot.requests import RequestStatus
        from bot.sandbox.harness import APPROVER, BYSTANDER, CHANNEL, REQUESTER, sandbox
        from bot.views import ids

        started = time.monotonic()
        self.say("starting the Slack stand-in and the app on loopback (SQLite in a temp folder)")
        async with sandbox(database_dir=self.database_dir) as sb:
            iam = sb.iam()
            self.say("arranging the leak in IAM")
            self.key = await asyncio.to_thread(self.arrange, iam)
            self.fingerprint = keys.decode(self.key).fingerprint

            api, driver = sb.api, sb.driver
            api.post_user_message(
                CHANNEL,
                BYSTANDER,
                "Heads up: a Bedrock API key of ours is out in the open. Billing alarm is firing.",
            )

            self.say("@alice runs /revoke-bedrock-key with the leaked key")
            before = len(api.views())
            response = await driver.slash_command(REQUESTER, CHANNEL, text=self.key)
            if response.status != 200:
                raise DemoFailed(f"the slash command was answered with HTTP {response.status}")
            views = await api.wait_for(
                lambda: api.views()[before:], FLOW_TIMEOUT, what="the modal to open"
            )
            view = views[0]
            await self.after_open(api)

            self.say("@alice fills in the modal and submits it")
            response = await driver.view_submission(
                REQUESTER, view_id=view.id, values=self.modal_values()
            )
            if response.status != 200 or response.text:
                body = response.body
                errors = body.get("errors") if isinstance(body, dict) else None
                raise DemoFailed(f"the modal was refused: {errors or response.text}")
            modal = api.render_view(view.id)

            def request_or_refusal() -> Any:
                posted = next((m for m in api.messages(CHANNEL) if m.bot_id), None)
                return posted or api.ephemerals(user=REQUESTER)

            self.step = "waiting for the request message and its plan"
            message = await api.wait_for(request_or_refusal, FLOW_TIMEOUT, what=self.step)
            if isinstance(message, list):
                refused = api.render_ephemerals(REQUESTER, CHANNEL)
                raise DemoFailed(f"the bot refused the request:\n{refused}")
            await api.wait_for(
                lambda: api.thread(CHANNEL, message.ts), FLOW_TIMEOUT, what="the plan reply"
            )
            request_id = _request_id(message.text)

            self.say("@alice clicks Approve on her own request")
            await driver.block_action(
                REQUESTER, channel_id=CHANNEL, message_ts=message.ts, action_id=ids.APPROVE_ACTION
            )
            await api.wait_for(
                lambda: api.ephemerals(user=REQUESTER), FLOW_TIMEOUT, what="alice's refusal"
            )
            pending = await sb.services.requests.get(request_id)
            if pending is None or pending.status != RequestStatus.PENDING:
                raise DemoFailed("alice's own click changed the request; it must not")

            self.say("@bob (an approver) clicks Approve; the bot runs the plan and verifies it")
            await driver.block_action(
                APPROVER, channel_id=CHANNEL, message_ts=message.ts, action_id=ids.APPROVE_ACTION
            )

            def finished_in_slack() -> bool:
                # The thread's summary line, and the request message showing its final status.
                replies = api.thread(CHANNEL, message.ts)
                summary = any(
                    b.get("block_id") == ids.SUMMARY_BLOCK for m in replies for b in m.blocks
                )
                current = api.message(CHANNEL, message.ts)
                text = current.text.lower() if current else ""
                return summary and any(f": {word}." in text for word in _FINAL_WORDS)

            self.step = "waiting for the plan to run"
            await api.wait_for(finished_in_slack, FLOW_TIMEOUT, what="the final status")
            finished = await sb.services.requests.get(request_id)
            outcome = finished.status if finished is not None else "missing"

            self.say("reading IAM back")
            iam_state, problems = await asyncio.to_thread(self.read_back, iam)
            if outcome != RequestStatus.COMPLETED:
                problems.insert(0, f"the request ended {outcome}:\n" + api.render_channel(CHANNEL))
            if problems:
                raise DemoFailed("\n".join(problems))

            elapsed = time.monotonic() - started
            transcript = [
                f"bedrock-revoker demo: {self.title}\n",
                "The real app ran on 127.0.0.1, driven by signed requests as Slack sends them. "
                "Slack was a\nlocal stand-in, AWS was moto in this process, the request store a "
                "SQLite file in a\ntemporary folder. No Slack workspace or AWS account was "
                "touched.\n",
                _section("What happened"),
                *(f"  {n}. {line}\n" for n, line in enumerate(self.story(), start=1)),
                _section("The modal, as @alice submitted it"),
                _indent(modal),
                _section("#incident-4242, as everyone in the channel reads it"),
                _indent(api.render_channel(CHANNEL)),
                _section("What only @alice saw"),
                _indent(api.render_ephemerals(REQUESTER, CHANNEL)),
                _section("IAM, read back with boto3 after the flow"),
                _indent(iam_state),
                f"\n{request_id} completed; the demo took {elapsed:.1f} s. The leaked key appears "
                "nowhere above nor in\nthe request store (both checked); only its fingerprint, "
                f"{self.fingerprint}, does.\n",
                *self._kept_store(),
            ]
        return DemoResult(
            transcript="".join(transcript),
            request_id=request_id,
            fingerprint=self.fingerprint,
            leaked_key=self.key,
        )


def _kept_store_lines(database_dir: Path) -> list[str]:
    url = f"sqlite:///{database_dir / STORE_FILE}"
    return [
        _section("The request store, kept"),
        f"  {database_dir / STORE_FILE} holds this request and its audit events. Try:\n",
        f"    REVOKER_DATABASE_URL={url} bedrock-revoker audit export > audit.jsonl\n",
        "    bedrock-revoker audit verify audit.jsonl\n",
    ]


def _request_id(text: str) -> str:
    found = re.search(r"R-[0-9A-Z]+", text)
    if found is None:
        raise DemoFailed("the request message carries no request id")
    return found.group(0)


class _LongTermFlow(_Flow):
    title = (
        "a leaked long-term Bedrock API key, deactivated and its user denied bearer tokens, "
        "after a second person approves."
    )
    reason = LONG_TERM_REASON

    def __init__(self, progress: Progress, database_dir: Path, *, kept: bool = False) -> None:
        super().__init__(progress, database_dir, kept=kept)
        self.credential_id = ""

    def arrange(self, iam: Any) -> str:
        leak = leaks.long_term_key(iam, DEMO_USER)
        self.credential_id = leak.credential_id or ""
        return leak.key

    def story(self) -> list[str]:
        return [
            f"IAM user {DEMO_USER} has a Bedrock API key, {self.credential_id} (Active). "
            f"The key\n     leaks; its fingerprint is {self.fingerprint}.",
            "@carol raises the alarm in #incident-4242.",
            f"@alice types /revoke-bedrock-key <the leaked key, fingerprint {self.fingerprint}>."
            "\n     The bot decodes the key locally, finds its user and credential, and opens "
            "the modal.",
            "@alice chooses deactivate and deny_user, gives a reason and submits. The bot reads "
            "IAM,\n     posts the request with Approve/Reject, and the plan in its thread, with "
            f"the\n     {policies.DENY_POLICY_NAME}-<plan tag> policy in full.",
            "@alice clicks Approve on her own request: refused, in a reply only she sees.",
            "@bob, a configured approver, clicks Approve. The bot deactivates the key, attaches "
            "the\n     deny policy to the user (so no other Bedrock API key of theirs works "
            "either), posts\n     each step, re-reads IAM to verify, and marks the request "
            "Completed.",
        ]

    def modal_values(self) -> dict[str, dict[str, Any]]:
        from bot.sandbox.slack_driver import checkboxes, plain_text_input
        from bot.views import ids

        return {
            ids.ACTIONS_BLOCK: {ids.ACTIONS_ACTION: checkboxes("deactivate", "deny_user")},
            ids.REASON_BLOCK: {ids.REASON_ACTION: plain_text_input(self.reason)},
        }

    def read_back(self, iam: Any) -> tuple[str, list[str]]:
        listed = iam.list_service_specific_credentials(UserName=DEMO_USER, ServiceName=BEDROCK)[
            "ServiceSpecificCredentials"
        ]
        lines = [f"iam.list_service_specific_credentials(UserName={DEMO_USER!r})"]
        problems = []
        for cred in listed:
            lines.append(
                f"  {cred['ServiceSpecificCredentialId']}  {cred['ServiceName']}  "
                f"Status: {cred['Status']}  alias: {cred.get('ServiceCredentialAlias', '-')}"
            )
            mine = cred["ServiceSpecificCredentialId"] == self.credential_id
            if mine and cred["Status"] != "Inactive":
                problems.append(f"the key is {cred['Status']} in IAM, not Inactive")
        if not any(c["ServiceSpecificCredentialId"] == self.credential_id for c in listed):
            problems.append(f"the key {self.credential_id} is gone from IAM")
        names = iam.list_user_policies(UserName=DEMO_USER)["PolicyNames"]
        lines += ["", f"iam.list_user_policies(UserName={DEMO_USER!r})", f"  {', '.join(names)}"]
        if not any(name.startswith(policies.DENY_POLICY_NAME + "-") for name in names):
            problems.append(
                f"user {DEMO_USER} has no inline policy {policies.DENY_POLICY_NAME}-<plan tag>"
            )
        return "\n".join(lines) + "\n", problems


class _ShortTermFlow(_Flow):
    title = "a leaked short-term Bedrock API key, stopped on the role whose session signed it."
    reason = SHORT_TERM_REASON

    def __init__(self, progress: Progress, database_dir: Path, *, kept: bool = False) -> None:
        super().__init__(progress, database_dir, kept=kept)
        self.access_key_id = ""

    def arrange(self, iam: Any) -> str:
        import boto3

        from bot.sandbox.cloudtrail import bearer_token_call

        sts = boto3.Session(region_name=REGION).client("sts")
        leak = leaks.short_term_key(iam, sts, DEMO_ROLE, REGION)
        self.access_key_id = leak.access_key_id or ""
        # Someone uses the leaked key: CloudTrail records the call under the signing session.
        bearer_token_call(leak.key, region=REGION, source_ip=LEAKER_IP, user_agent=LEAKER_AGENT)
        return leak.key

    async def after_open(self, api: Any) -> None:
        self.say("the bot reads CloudTrail for the key's signer and updates the modal")
        await api.wait_for(
            lambda: api.calls("views.update"), FLOW_TIMEOUT, what="the signer in the modal"
        )

    def story(self) -> list[str]:
        return [
            f"An application assumes role {DEMO_ROLE} (session key {self.access_key_id}) and "
            "makes a\n     short-term Bedrock API key from that session with "
            f"aws-bedrock-token-generator. The key\n     leaks; its fingerprint is "
            f"{self.fingerprint}.",
            "@carol raises the alarm in #incident-4242.",
            f"@alice types /revoke-bedrock-key <the leaked key, fingerprint {self.fingerprint}>."
            "\n     The bot decodes it locally: short-term, signed by a role session, valid "
            "for hours.",
            f"Someone used the key from {LEAKER_IP}. A short-term key does not name its "
            "role;\n     CloudTrail does: the bot looks up events made with "
            f"{self.access_key_id}\n     and prefills role {DEMO_ROLE} in the modal with that "
            "evidence. @alice ticks\n     'deny API-key use to the role' and 'revoke the "
            "signer's sessions', gives a reason\n     and submits.",
            "@alice clicks Approve on her own request: refused, in a reply only she sees.",
            "@bob, a configured approver, clicks Approve. The bot attaches both policies, "
            "verifies them,\n     and marks the request Completed.",
        ]

    def modal_values(self) -> dict[str, dict[str, Any]]:
        from bot.sandbox.slack_driver import checkboxes, plain_text_input
        from bot.views import ids

        return {
            # The role field is left as the bot prefilled it from CloudTrail.
            ids.ACTIONS_BLOCK: {ids.ACTIONS_ACTION: checkboxes("deny_role", "revoke_sessions")},
            ids.REASON_BLOCK: {ids.REASON_ACTION: plain_text_input(self.reason)},
        }

    def read_back(self, iam: Any) -> tuple[str, list[str]]:
        from bot import policies

        names = iam.list_role_policies(RoleName=DEMO_ROLE)["PolicyNames"]
        lines = [f"iam.list_role_policies(RoleName={DEMO_ROLE!r})", f"  {', '.join(names)}"]
        for name in names:
            document = iam.get_role_policy(RoleName=DEMO_ROLE, PolicyName=name)["PolicyDocument"]
            lines.append("")
            lines.append(f"iam.get_role_policy(RoleName={DEMO_ROLE!r}, PolicyName={name!r})")
            lines.extend("  " + line for line in json.dumps(document, indent=2).splitlines())
        problems = [
            f"role {DEMO_ROLE} has no inline policy {prefix}-<plan tag>"
            for prefix in (policies.SESSION_CUTOFF_POLICY_PREFIX, policies.DENY_POLICY_NAME)
            if not any(name.startswith(prefix + "-") for name in names)
        ]
        return "\n".join(lines) + "\n", problems
