"""bot.logs: JSON lines, request context across tasks and threads, redaction, text format."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from bot.logs import (
    NOISY_LOGGERS,
    REDACTED,
    bind,
    configure_logging,
    current_context,
    log_context,
    redact,
)

# Secret-shaped test values are assembled at run time so that secret scanners (and GitHub push
# protection) do not flag this file; none of them is, or ever was, a real credential.
LONG_TERM_KEY = "ABSK" + base64.b64encode(b"alice-at-123456789012:" + b"s3cr3tPart" * 4).decode()
SHORT_TERM_KEY = (
    "bedrock-api-key-"
    + base64.b64encode(
        b"bedrock.amazonaws.com/?Action=CallWithBearerToken&X-Amz-Credential=ASIAEXAMPLE"
    ).decode()
)
SLACK_BOT = "xo" + "xb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
SLACK_USER = "xo" + "xp-1234567890-1234567890123-1234567890123-0123456789abcdef"
SLACK_APP = "xa" + "pp-1-A0123456789-1234567890123-" + "ab12" * 16
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"  # AWS's documented example shape
AWS_SESSION = "IQoJb3JpZ2luX2VjE" + "Kj//////////wEaCXVzLWVhc3QtMSJHMEUCIQ" * 8
ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"

SECRETS = {
    "long-term bedrock key": LONG_TERM_KEY,
    "short-term bedrock key": SHORT_TERM_KEY,
    "slack bot token": SLACK_BOT,
    "slack user token": SLACK_USER,
    "slack app token": SLACK_APP,
    "aws secret access key": AWS_SECRET,
    "aws session token": AWS_SESSION,
}


class Capture:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def lines(self) -> list[str]:
        return [line for line in self.stream.getvalue().splitlines() if line]

    def records(self) -> list[dict[str, Any]]:
        """Each log line as JSON; also proves every line is exactly one JSON object."""
        out = []
        for line in self.stream.getvalue().splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    lib_levels = {name: logging.getLogger(name).level for name in NOISY_LOGGERS}
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)
    for name, lib_level in lib_levels.items():
        logging.getLogger(name).setLevel(lib_level)


@pytest.fixture
def json_logs(restore_logging: None) -> Capture:
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    return Capture(stream)


@pytest.fixture
def text_logs(restore_logging: None) -> Capture:
    stream = io.StringIO()
    configure_logging("text", stream=stream)
    return Capture(stream)


log = logging.getLogger("bot.test")


def test_json_lines_have_time_level_logger_message(json_logs: Capture) -> None:
    log.info("hello %s", "world")
    log.warning("second", extra={"credential_id": "ACCAEXAMPLE1234567890"})
    first, second = json_logs.records()
    assert len(json_logs.lines()) == 2
    assert first["message"] == "hello world"
    assert first["level"] == "INFO"
    assert first["logger"] == "bot.test"
    assert first["time"].endswith("Z") and "T" in first["time"]
    assert second["level"] == "WARNING"
    assert second["credential_id"] == "ACCAEXAMPLE1234567890"


def test_multiline_message_and_traceback_stay_one_json_line(json_logs: Capture) -> None:
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError:
        log.exception("failed\nbadly")
    (line,) = json_logs.lines()
    record = json.loads(line)
    assert record["message"] == "failed\nbadly"
    assert "RuntimeError: boom" in record["exception"]


def test_context_fields_on_every_line_and_removed_after(json_logs: Capture) -> None:
    with log_context(request_id="R-1", actor="U1", action="approve"):
        log.info("one")
        with log_context(action="execute", step=2):
            log.info("two")
        log.info("three")
    log.info("outside")
    one, two, three, outside = json_logs.records()
    assert {k: one[k] for k in ("request_id", "actor", "action")} == {
        "request_id": "R-1",
        "actor": "U1",
        "action": "approve",
    }
    assert two["action"] == "execute" and two["step"] == 2 and two["request_id"] == "R-1"
    assert three["action"] == "approve" and "step" not in three
    assert "request_id" not in outside


def test_none_does_not_erase_an_outer_value() -> None:
    with log_context(actor="U1"), log_context(actor=None, action="x"):
        assert current_context() == {"actor": "U1", "action": "x"}


async def test_context_reaches_child_tasks_and_threads(json_logs: Capture) -> None:
    async def child() -> None:
        log.info("from child task")

    def in_thread() -> None:
        logging.getLogger("botocore.fake").warning("from worker thread")

    with log_context(request_id="R-7", actor="U2", action="approve"):
        await asyncio.create_task(child())
        await asyncio.gather(child(), child())
        await asyncio.to_thread(in_thread)

    records = json_logs.records()
    assert len(records) == 4
    for record in records:
        assert record["request_id"] == "R-7"
        assert record["actor"] == "U2"
        assert record["action"] == "approve"


async def test_bind_is_scoped_to_the_task(json_logs: Capture) -> None:
    async def handler(request_id: str) -> None:
        bind(request_id=request_id, actor="U9")
        await asyncio.sleep(0)  # interleave with the other request
        log.info("handling")

    await asyncio.gather(handler("R-1"), handler("R-2"))
    log.info("after")

    *handled, after = json_logs.records()
    assert sorted(r["request_id"] for r in handled) == ["R-1", "R-2"]
    assert "request_id" not in after


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_each_secret_shape_is_redacted_from_message_args_and_fields(
    json_logs: Capture, name: str
) -> None:
    secret = SECRETS[name]
    log.info("leaked: " + secret)
    log.info("leaked via args: %s", secret)
    log.info("leaked via extra", extra={"payload": {"nested": [f"x {secret} y"]}})
    with log_context(request_id="R-1", note=secret):
        log.info("leaked via context")

    out = json_logs.stream.getvalue()
    assert secret not in out
    assert out.count(REDACTED) >= 4
    assert len(json_logs.records()) == 4  # redaction never breaks the JSON


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_secrets_are_redacted_from_logged_tracebacks(json_logs: Capture, name: str) -> None:
    secret = SECRETS[name]

    def fails(value: str) -> None:
        raise ValueError(f"could not parse {value}")

    try:
        fails(secret)
    except ValueError:
        log.exception("parse failed")

    (record,) = json_logs.records()
    assert secret not in json_logs.stream.getvalue()
    assert "ValueError: could not parse [REDACTED]" in record["exception"]


def test_secrets_redacted_in_text_format_including_traceback(text_logs: Capture) -> None:
    try:
        raise RuntimeError(f"token was {SLACK_BOT}")
    except RuntimeError:
        log.exception("oops %s", LONG_TERM_KEY, extra={"note": AWS_SECRET})
    out = text_logs.stream.getvalue()
    for secret in (SLACK_BOT, LONG_TERM_KEY, AWS_SECRET):
        assert secret not in out
    assert "RuntimeError: token was [REDACTED]" in out


def test_labelled_secrets_are_redacted_whatever_their_shape(json_logs: Capture) -> None:
    response = {"ServiceSpecificCredential": {"ServiceCredentialSecret": "short-but-secret"}}
    log.info("iam said %s", response)
    log.info("env SLACK_SIGNING_SECRET=0123456789abcdef0123456789abcdef")
    log.info("stored", extra={"secret": "anything at all", "SessionToken": "abc"})
    out = json_logs.stream.getvalue()
    assert "short-but-secret" not in out
    assert "0123456789abcdef0123456789abcdef" not in out
    assert "anything at all" not in out
    assert '"SessionToken": "[REDACTED]"' in out


def test_identifiers_are_not_redacted() -> None:
    text = (
        f"access key {ACCESS_KEY_ID} of ASIAIOSFODNN7EXAMPLE, credential ACCAEXAMPLE1234567890, "
        "user BedrockAPIKey-ab12, role arn:aws:iam::123456789012:role/ops/Deployer, "
        "sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709, fingerprint 3f2a9c1d, "
        "token_issue_time=2025-01-01T00:00:00Z, SecretId=bedrock-key-revoker/R-12, "
        "request 6a1c0f3e-2b7d-4e59-9a0b-5c1d2e3f4a5b, channel C0123ABCD user U0123ABCD"
    )
    assert redact(text) == text


def test_presigned_url_credentials_are_redacted() -> None:
    url = (
        "bedrock.amazonaws.com/?Action=CallWithBearerToken&X-Amz-Credential=ASIAEXAMPLE%2F20250101"
        f"&X-Amz-Security-Token={AWS_SESSION[:60]}%2F%2B&X-Amz-Signature={'ab12' * 16}&Version=1"
    )
    out = redact(url)
    assert AWS_SESSION[:60] not in out
    assert "ab12" * 16 not in out
    assert "X-Amz-Credential=ASIAEXAMPLE%2F20250101" in out


def test_text_format_is_one_readable_line(text_logs: Capture) -> None:
    with log_context(request_id="R-3", actor="U1"):
        log.info("approved by %s", "bob", extra={"reason": "leaked in a paste"})
    (line,) = text_logs.lines()
    assert " INFO  bot.test: approved by bob" in line
    assert 'request_id=R-3 actor=U1 reason="leaked in a paste"' in line
    assert not line.startswith("{")


def test_default_format_follows_the_terminal(restore_logging: None) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty, pipe = Tty(), io.StringIO()
    configure_logging(None, stream=tty)
    log.info("to a person")
    configure_logging(None, stream=pipe)
    log.info("to a collector")
    assert not tty.getvalue().startswith("{")
    assert json.loads(pipe.getvalue())["message"] == "to a collector"
    assert "to a collector" not in tty.getvalue()  # reconfiguring replaced the first handler


def test_noisy_libraries_are_quiet_at_info(json_logs: Capture) -> None:
    logging.getLogger("botocore.credentials").info("Found credentials in environment variables.")
    logging.getLogger("aiohttp.access").info("GET /healthz 200")
    logging.getLogger("slack_bolt.App").warning("unhandled request")
    (record,) = json_logs.records()
    assert record["logger"] == "slack_bolt.App"


def test_rejects_an_unknown_format(restore_logging: None) -> None:
    with pytest.raises(ValueError, match="json"):
        configure_logging("yaml", stream=io.StringIO())  # type: ignore[arg-type]
