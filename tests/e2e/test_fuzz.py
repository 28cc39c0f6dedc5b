"""Hypothesis against the running app: correctly signed, hostile slash commands, `block_actions`
and `view_submission` payloads, sent as bytes to POST /slack/events the way a workspace member
(or anyone holding the signing secret) could send them.

For every payload: never a 5xx, never an ERROR line or traceback in the log, never an IAM or STS
call that changes anything, never a key (in any of its encodings), the signing secret or the
bot token in any answer, Slack call, log line or stored row; and a slash command from a real
member always gets an answer only they see.

The app runs on its own event loop in a thread (Hypothesis drives a synchronous test); each
example waits for the work its request started before the next one. `ci` is the default
profile (a few seconds per test); `pytest -m fuzz --hypothesis-profile=long` runs thousands.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sqlite3
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import pytest
from conftest import boto_session, create_long_term_key
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_flow import newest_request, open_modal, submit
from test_redaction import KEYS, PASTES, leaked

from bot.logs import NOISY_LOGGERS, configure_logging
from bot.sandbox import iam as aws
from bot.sandbox.harness import (
    APPROVER,
    BYSTANDER,
    CHANNEL,
    GROUP_APPROVER,
    REQUESTER,
    Sandbox,
    sandbox,
)
from bot.views import ids

pytestmark = pytest.mark.fuzz

T = TypeVar("T")
FORM = "application/x-www-form-urlencoded"
MEMBERS = (REQUESTER, APPROVER, BYSTANDER, GROUP_APPROVER)
# What a request may read in AWS: resolution of a well-formed form by any member is normal use.
READS = ("Get", "List", "LookupEvents", "AssumeRole")
STATS: Counter[str] = Counter()


# --------------------------------------------------------------------------------------------
# the app, running in its own thread


@dataclass
class RunningApp:
    sb: Sandbox
    loop: asyncio.AbstractEventLoop
    request_id: str  # a real pending request in CHANNEL, for payloads to point at
    message_ts: str
    records: list[logging.LogRecord] = field(default_factory=list)  # as logged
    served: io.StringIO = field(default_factory=io.StringIO)  # as `serve` writes them

    def run(self, work: Awaitable[T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(_as_coroutine(work), self.loop)
        return future.result(timeout=60)

    async def settled(self) -> None:
        """Every listener's after-ack work, including any it started, has finished."""
        while running := [t for t in self.sb.app.listeners if not t.done()]:
            await asyncio.wait(running, timeout=30)


async def _as_coroutine(work: Awaitable[T]) -> T:
    return await work


class _Records(logging.Handler):
    def __init__(self, into: list[logging.LogRecord]) -> None:
        super().__init__(logging.INFO)
        self._into = into

    def emit(self, record: logging.LogRecord) -> None:
        self._into.append(record)


@pytest.fixture
def app(aws_server: str, tmp_path: Path) -> Iterator[RunningApp]:
    loop = asyncio.new_event_loop()
    ready: Future[RunningApp] = Future()
    stop = asyncio.Event()

    async def serve() -> None:
        try:
            async with sandbox(database_dir=tmp_path) as sb:
                key = create_long_term_key(boto_session().client("iam"), "fuzz-target")
                view = await open_modal(sb, text=key.credential_id)
                assert (await submit(sb, view, actions=("deactivate",))).status == 200
                message = await newest_request(sb, 0)
                (req,) = await sb.services.requests.list_recent()
                ready.set_result(RunningApp(sb, loop, req.id, message.ts))
                await stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    running = ready.result(timeout=120)
    root = logging.getLogger()
    saved = root.level, {name: logging.getLogger(name).level for name in NOISY_LOGGERS}
    # Records as logged (before the served handler redacts them), then the output `serve` writes.
    handler = _Records(running.records)
    root.addHandler(handler)
    served = configure_logging("json", level="INFO", stream=running.served)
    try:
        yield running
        _nothing_secret_stored(running.sb)
    finally:
        root.removeHandler(served)
        root.removeHandler(handler)
        served.close()
        root.setLevel(saved[0])
        for name, level in saved[1].items():
            logging.getLogger(name).setLevel(level)
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=60)
        loop.close()


# --------------------------------------------------------------------------------------------
# hostile content

INJECTIONS = [
    "<!channel>",
    "<!here|here>",
    "<@U0BOB>",
    "<!subteam^S0SECOPS>",
    "<https://evil.example|the runbook>",
    "*bold* _it_ ~s~ `code` ```block```",
    "&amp; &lt; &gt;",
    "\u202eevil\u202c",
    "\x00\x01\x1b[31m\x7f",
    "\u0410\u0412\u0405\u041a",  # Cyrillic look-alikes of ABSK
    "\uff21\uff22\uff33\uff2b",  # fullwidth ABSK
    "bedrock‐api‐key‐",  # noqa: RUF001 (U+2010 hyphens: a confusable prefix, on purpose)
    "R-00000000",
    "r-",
    "status",
    "list",
    "help",
]


def _pasted_keys() -> st.SearchStrategy[str]:
    return st.builds(
        lambda kind, paste, before, after: f"{before}{PASTES[paste](KEYS[kind])}{after}",
        st.sampled_from(sorted(KEYS)),
        st.sampled_from(sorted(PASTES)),
        st.sampled_from(["", "key: ", "x", "INC-1 ", "status ", "list ", "'"]),
        st.sampled_from(["", " leaked", "'", "\n", ", rotate"]),
    )


def _huge() -> st.SearchStrategy[str]:
    return st.builds(
        lambda unit, n: unit * n,
        st.sampled_from(["A", "ABSK", "QmVk ", "é", "<!channel>", "\u200b", "%2F"]),
        st.integers(500, 4000),
    )


def hostile_text(request_id: str) -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80),
        st.sampled_from([*INJECTIONS, request_id, request_id.lower()]),
        _pasted_keys(),
        _huge(),
        st.lists(st.sampled_from(INJECTIONS), min_size=2, max_size=5).map(" ".join),
    )


def wrong_type() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.integers(),
        st.booleans(),
        st.floats(allow_nan=False),
        st.lists(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    )


def any_value(request_id: str) -> st.SearchStrategy[Any]:
    return st.one_of(hostile_text(request_id), wrong_type())


MISSING = object()


def field_of(good: Any, request_id: str, *, typed: bool = True) -> st.SearchStrategy[Any]:
    """A field as Slack sends it (mostly, so that payloads get past the envelope to the
    listeners), or hostile, or of the wrong type, or left out."""
    options = [hostile_text(request_id), st.just(MISSING)]
    if typed:
        options.append(wrong_type())
    return st.integers(0, 9).flatmap(lambda n: st.just(good) if n < 8 else st.one_of(*options))


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`good` four times in five: hostile content needs a payload that gets to a listener."""
    return st.integers(0, 4).flatmap(lambda n: good if n else bad)


def _drop_missing(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not MISSING}


@st.composite
def slash_command(draw: st.DrawFn, app: RunningApp) -> tuple[bytes, str, str | None]:
    rid = app.request_id
    user = draw(mostly(st.sampled_from(MEMBERS), hostile_text(rid)))
    words = draw(
        st.one_of(
            hostile_text(rid),
            st.builds(
                lambda w, a: f"{w} {a}",
                st.sampled_from(["status", "list", "STATUS", "help", "revoke"]),
                hostile_text(rid),
            ),
        )
    )
    fields = {
        "token": "sandbox-verification-token",
        "team_id": draw(field_of("T0001", rid, typed=False)),
        "channel_id": draw(
            mostly(
                st.sampled_from([CHANNEL, CHANNEL, "C0ELSEWHERE", "D0DIRECT", "G0GROUP"]),
                st.one_of(hostile_text(rid), st.just(MISSING)),
            )
        ),
        "user_id": draw(st.sampled_from([user, user, MISSING])),
        "command": draw(field_of("/revoke-bedrock-key", rid, typed=False)),
        "text": words,
        "response_url": app.sb.api.issue_response_url(channel=CHANNEL, user=str(user)),
        "trigger_id": draw(field_of(app.sb.api.issue_trigger_id(user=str(user)), rid, typed=False)),
        draw(st.text(min_size=1, max_size=10)): draw(hostile_text(rid)),
    }
    body = urlencode({k: str(v) for k, v in _drop_missing(fields).items()}).encode()
    # Who could see an answer: a real member in a real conversation.
    person = (
        str(user)
        if fields["user_id"] in MEMBERS
        and fields["channel_id"] == CHANNEL
        and fields["command"] == "/revoke-bedrock-key"
        and fields["team_id"] == "T0001"
        else None
    )
    return body, FORM, person


ACTION_IDS = [
    ids.APPROVE_ACTION,
    ids.REJECT_ACTION,
    ids.CANCEL_ACTION,
    f"{ids.UNDO_ACTION_PREFIX}:deactivate",
    f"{ids.UNDO_ACTION_PREFIX}:deny_user",
    ids.KIND_ACTION,
    ids.IDENTIFIER_ACTION,
    "unknown_action",
]


@st.composite
def block_actions(draw: st.DrawFn, app: RunningApp) -> tuple[bytes, str, str | None]:
    rid = app.request_id
    action = _drop_missing(
        {
            "type": draw(field_of("button", rid)),
            "action_id": draw(mostly(st.sampled_from(ACTION_IDS), any_value(rid))),
            "block_id": draw(field_of(ids.REQUEST_BUTTONS_BLOCK, rid)),
            "value": draw(
                st.one_of(st.sampled_from([rid, rid.lower(), "R-00000000"]), any_value(rid))
            ),
            "action_ts": "1.0",
            "selected_option": draw(st.one_of(st.just(MISSING), any_value(rid))),
        }
    )
    user_id = draw(mostly(st.sampled_from(MEMBERS), any_value(rid)))
    channel = draw(st.sampled_from([CHANNEL, "C0ELSEWHERE"]))
    payload = _drop_missing(
        {
            "type": "block_actions",
            "team": draw(field_of({"id": "T0001", "domain": "sandbox"}, rid)),
            "user": draw(
                mostly(
                    st.just({"id": user_id, "username": "u", "team_id": "T0001"}), any_value(rid)
                )
            ),
            "api_app_id": app.sb.api.app_id,
            "token": "sandbox-verification-token",
            "trigger_id": draw(field_of(app.sb.api.issue_trigger_id(user=str(user_id)), rid)),
            "container": draw(
                field_of(
                    {"type": "message", "message_ts": app.message_ts, "channel_id": channel},
                    rid,
                )
            ),
            "channel": draw(field_of({"id": channel, "name": "incident"}, rid)),
            "message": draw(field_of({"ts": app.message_ts, "text": "request", "blocks": []}, rid)),
            "state": draw(field_of({"values": {}}, rid)),
            "response_url": app.sb.api.issue_response_url(channel=channel, user=str(user_id)),
            "actions": draw(
                st.one_of(st.just([action]), st.lists(st.just(action), max_size=3), any_value(rid))
            ),
            "view": draw(st.one_of(st.just(MISSING), any_value(rid))),
            draw(st.text(min_size=1, max_size=8)): draw(any_value(rid)),
        }
    )
    return _as_payload(payload), FORM, None


@st.composite
def view_submission(draw: st.DrawFn, app: RunningApp) -> tuple[bytes, str, str | None]:
    rid = app.request_id
    user_id = draw(mostly(st.sampled_from(MEMBERS), any_value(rid)))
    metadata = draw(
        st.one_of(
            st.builds(
                lambda r, c, t: json.dumps({"r": r, "c": c, "t": t}),
                st.sampled_from([rid, "R-00000000"]),
                st.sampled_from([CHANNEL, "C0ELSEWHERE"]),
                st.sampled_from([app.message_ts, "1.0"]),
            ),
            st.builds(
                lambda c, k: json.dumps({"c": c, "k": k}),
                st.sampled_from([CHANNEL, "C0ELSEWHERE"]),
                st.sampled_from(["long_term", "short_term", "nonsense"]),
            ),
            hostile_text(rid),
        )
    )

    def text_input(value: Any) -> dict[str, Any]:
        return {"type": "plain_text_input", "value": value}

    values = {
        ids.REASON_BLOCK: {ids.REASON_ACTION: text_input(draw(any_value(rid)))},
        ids.IDENTIFIER_BLOCK: {ids.IDENTIFIER_ACTION: text_input(draw(any_value(rid)))},
        ids.KEY_TEXT_BLOCK: {ids.KEY_TEXT_ACTION: text_input(draw(any_value(rid)))},
        ids.REJECT_REASON_BLOCK: {ids.REJECT_REASON_ACTION: text_input(draw(any_value(rid)))},
        ids.ACTIONS_BLOCK: {
            ids.ACTIONS_ACTION: {
                "type": "checkboxes",
                "selected_options": draw(
                    st.one_of(
                        st.just([{"value": "deactivate"}]),
                        st.lists(st.fixed_dictionaries({"value": any_value(rid)}), max_size=3),
                        any_value(rid),
                    )
                ),
            }
        },
        ids.KIND_BLOCK: {ids.KIND_ACTION: draw(any_value(rid))},
    }
    view = _drop_missing(
        {
            "id": "V0FUZZ",
            "type": "modal",
            "callback_id": draw(
                mostly(
                    st.sampled_from([ids.REVOKE_CALLBACK_ID, ids.REJECT_CALLBACK_ID, "other"]),
                    any_value(rid),
                )
            ),
            "private_metadata": metadata,
            "state": draw(
                mostly(
                    st.just({"values": values}),
                    st.one_of(st.just({"values": draw(any_value(rid))}), any_value(rid)),
                )
            ),
            "hash": "1.abc",
            "blocks": [],
        }
    )
    payload = _drop_missing(
        {
            "type": "view_submission",
            "team": {"id": "T0001", "domain": "sandbox"},
            "user": draw(mostly(st.just({"id": user_id, "team_id": "T0001"}), any_value(rid))),
            "api_app_id": app.sb.api.app_id,
            "token": "sandbox-verification-token",
            "trigger_id": app.sb.api.issue_trigger_id(user=str(user_id)),
            "view": draw(mostly(st.just(view), any_value(rid))),
            "response_urls": [],
            draw(st.text(min_size=1, max_size=8)): draw(any_value(rid)),
        }
    )
    return _as_payload(payload), FORM, None


def _as_payload(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


# --------------------------------------------------------------------------------------------
# the checks


@dataclass(frozen=True)
class Mark:
    slack_calls: int
    aws_calls: int
    records: int
    ephemerals: int
    views: int
    served: int


def _mark(app: RunningApp) -> Mark:
    api = app.sb.api
    return Mark(
        len(api.calls()),
        len(aws.calls()),
        len(app.records),
        len(api.ephemerals()),
        len(api.views()),
        app.served.tell(),
    )


def _secrets(sb: Sandbox) -> list[str]:
    settings = sb.settings
    values = [settings.slack_signing_secret, settings.slack_bot_token]
    return [v.get_secret_value() for v in values if v is not None]


def _no_leak(text: str, sb: Sandbox, where: str) -> None:
    for kind, key in KEYS.items():
        assert leaked(text, key) == [], f"{kind} key in {where}"
    for secret in _secrets(sb):
        assert secret not in text, f"a Slack secret in {where}"


def _send(app: RunningApp, sample: tuple[bytes, str, str | None]) -> None:
    body, content_type, person = sample
    sb = app.sb
    before = _mark(app)
    headers = {"Content-Type": content_type, **sb.driver.sign(body)}

    response = app.run(sb.driver.post_raw(body, headers))
    app.run(app.settled())

    STATS["payloads"] += 1
    STATS[f"status {response.status}"] += 1
    assert response.status < 500, response.text[:300]
    records = app.records[before.records :]
    trouble = [r for r in records if r.levelno >= logging.ERROR or r.exc_info or r.exc_text]
    STATS["crashes"] += len(trouble)
    assert trouble == [], [f"{r.name}: {r.getMessage()}\n{r.exc_text or ''}" for r in trouble]
    calls = aws.calls()[before.aws_calls :]
    changes = [c for c in calls if not c.operation.startswith(READS)]
    STATS["AWS reads"] += len(calls) - len(changes)
    STATS["IAM changes"] += len(changes)
    assert changes == []

    api = sb.api
    said = "\n".join(
        [response.text]
        + [json.dumps(c.params, default=str) for c in api.calls()[before.slack_calls :]]
        + [e.text + json.dumps(e.blocks) for e in api.ephemerals()[before.ephemerals :]]
    )
    _no_leak(said, sb, "an answer or a Slack call")
    _no_leak(app.served.getvalue()[before.served :], sb, "the log output")
    # Our own code logs no secret even before the served handler's redaction (Bolt's warnings
    # about unhandled requests quote the body; the served output above covers those).
    ours = [r for r in records if r.name.startswith(("bot", "handlers"))]
    _no_leak("\n".join(r.getMessage() + (r.exc_text or "") for r in ours), sb, "our log records")
    if person is not None and response.status == 200:
        answered = (
            bool(response.text)
            or any(e.user == person for e in api.ephemerals()[before.ephemerals :])
            or len(api.views()) > before.views
        )
        assert answered, "a member's command got no answer"


def _nothing_secret_stored(sb: Sandbox) -> None:
    path = sb.settings.database_url.removeprefix("sqlite:///")
    db = sqlite3.connect(path)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        cells = [
            str(cell)
            for table in tables
            for row in db.execute(f'SELECT * FROM "{table}"')  # noqa: S608 (names from sqlite)
            for cell in row
        ]
    finally:
        db.close()
    _no_leak("\n".join(cells), sb, "the database")


# --------------------------------------------------------------------------------------------
# the tests


def _fuzz(strategy: Callable[[RunningApp], st.SearchStrategy[Any]]) -> Callable[[RunningApp], None]:
    def test(app: RunningApp) -> None:
        # A third of the profile's examples each: ~30 under `ci` (seconds), ~1000 under `long`.
        @settings(max_examples=max(30, settings.default.max_examples // 3))
        @given(st.data())
        def one(data: st.DataObject) -> None:
            _send(app, data.draw(strategy(app)))

        one()

    return test


test_fuzz_slash_commands = _fuzz(slash_command)
test_fuzz_block_actions = _fuzz(block_actions)
test_fuzz_view_submissions = _fuzz(view_submission)


def test_fuzz_figures(capsys: pytest.CaptureFixture[str]) -> None:
    """Prints the totals of this session's fuzzing (run with -s), for docs/security.md."""
    with capsys.disabled():
        print("\nfuzz figures:", json.dumps(dict(sorted(STATS.items()))))
