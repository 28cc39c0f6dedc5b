"""Logging for the bot: JSON lines or readable text, request context, and secret redaction.

Use::

    configure_logging(settings.log_format)          # once, at start-up
    with log_context(request_id="R-1", actor="U1", action="approve"):
        log.info("approved")                        # carries request_id, actor, action

`bind(...)` adds fields to the current context without a `with` block; in a coroutine that is the
current task's context, so it never leaks into the caller or a sibling request. asyncio tasks and
`asyncio.to_thread` copy the context, so lines logged from child tasks and boto3 worker threads
carry the fields too (a bare `loop.run_in_executor` does not copy it).

Redaction is defence in depth, not the primary control: code must not log secrets in the first
place. Every line this module's handler writes is scrubbed of Bedrock API keys, Slack tokens and
AWS secret-key / session-token shapes. AWS access key ids (AKIA…/ASIA…) are identifiers, not
secrets, and stay readable because responders need them.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal, TextIO

from bot import keys

LogFormat = Literal["json", "text"]

REDACTED = "[REDACTED]"

# Third-party loggers that are chatty at INFO (per-request access lines, socket-mode session
# chatter, botocore credential discovery). Their warnings and errors still get through.
NOISY_LOGGERS = (
    "aiohttp.access",
    "botocore",
    "boto3",
    "urllib3",
    "s3transfer",
    "slack_bolt",
    "slack_sdk",
    "asyncio",
)

_HANDLER_MARK = "_bedrock_revoker_handler"

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "bedrock_revoker_log_context", default=_EMPTY
)


# --- context ---------------------------------------------------------------------------------


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add fields to every line logged inside the block (and in tasks started inside it)."""
    token = _context.set(_merged(fields))
    try:
        yield
    finally:
        _context.reset(token)


def bind(**fields: Any) -> None:
    """Add fields to the current context until it ends (for a request handler: its task)."""
    _context.set(_merged(fields))


def current_context() -> dict[str, Any]:
    return dict(_context.get())


def _merged(fields: Mapping[str, Any]) -> Mapping[str, Any]:
    # None means "not known here", so it never overwrites a value bound further out.
    new = {**_context.get(), **{k: v for k, v in fields.items() if v is not None}}
    return MappingProxyType(new)


# --- redaction -------------------------------------------------------------------------------

_B64 = r"A-Za-z0-9+/="

_SECRET_PATTERNS: tuple[re.Pattern[str], ...] = (
    # Long-term Bedrock key: ABSK + base64("<alias>:<secret>").
    re.compile(rf"ABSK[{_B64}]{{20,}}"),
    # Short-term Bedrock key: a base64'd presigned URL, usable by anyone who holds it.
    re.compile(rf"bedrock-api-key-[{_B64}_-]{{20,}}"),
    # Slack bot/user/app-config/refresh tokens, rotated tokens, app-level tokens.
    re.compile(r"xox(?:[abprse]|e\.xox[bp])-[A-Za-z0-9-]{8,}"),
    re.compile(r"xapp-[A-Za-z0-9-]{8,}"),
    # STS session tokens: the known binary prefixes, and any very long base64 run.
    re.compile(rf"(?:IQoJb3JpZ2lu|FwoGZXIvYXdz|AQoDYXdzE)[{_B64}]+"),
    re.compile(rf"(?<![{_B64}])[{_B64}]{{100,}}"),
    # The credential parts of a presigned URL (a decoded short-term key, botocore debug output).
    re.compile(r"(?<=X-Amz-Security-Token=)[^&\s\"']+"),
    re.compile(r"(?<=X-Amz-Signature=)[0-9a-fA-F]{64}"),
    re.compile(r"(?i)(?<=bearer )[A-Za-z0-9._~+/=-]{8,}"),
)

# `name=value` / `"name": "value"` where the name says it is a secret, whatever the value looks
# like: boto3 response dicts (SecretAccessKey, ServiceCredentialSecret, SessionToken), env dumps.
# The name must *end* in the word so `token_issue_time` or `SecretId` stay readable.
_LABELLED = re.compile(
    r"(?i)(\b[\w.-]*?(?:secret|password|passwd|token|signature|secret_?access_?key"
    r"|secretstring|secretbinary)[\"']?\s*[:=]\s*[\"']?)"
    r"([^\s\"',;&}\]]{8,})"
)

# An AWS secret access key is 40 base64 characters with no recognisable prefix; requiring upper,
# lower and digits (a random key lacks one of them ~0.1% of the time) keeps hex digests, IAM ids
# (all upper case) and file paths readable.
_AWS_SECRET_CANDIDATE = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{40}(?![A-Za-z0-9+/=])")

_SECRET_FIELD_NAME = re.compile(r"(?i)(secret|password|passwd|token|signature|authorization)$")


def _aws_secret(match: re.Match[str]) -> str:
    s = match.group(0)
    mixed = any(c.isupper() for c in s) and any(c.islower() for c in s)
    return REDACTED if mixed and any(c.isdigit() for c in s) else s


_LITERAL_GAPS = re.compile(r"\\[rnt]")


def redact(text: str) -> str:
    """`text` with anything shaped like a secret replaced by [REDACTED]."""
    # Bedrock keys however wrapped or encoded, as the decoder reads them, then the shapes. A
    # logged repr() shows a wrapped key's line breaks as the escapes \r \n \t: read as the gaps
    # they stand for (two spaces keep every position where it is).
    for start, end, _ in reversed(keys.find_secrets(_LITERAL_GAPS.sub("  ", text))):
        text = text[:start] + REDACTED + text[end:]
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(REDACTED, text)
    text = _LABELLED.sub(lambda m: m.group(1) + REDACTED, text)
    return _AWS_SECRET_CANDIDATE.sub(_aws_secret, text)


def _redact_value(value: Any, key: str | None = None) -> Any:
    """A JSON-ready copy of `value` with secrets redacted, recursing into containers."""
    if key is not None and _SECRET_FIELD_NAME.search(key) and value not in (None, "", False):
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Mapping):
        return {str(k): _redact_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_value(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return redact(str(value))


class RedactingFilter(logging.Filter):
    """Scrubs a record's message and traceback in place, before any formatter sees it.

    Done on the record (not only in our formatters) so any other handler that receives the same
    record afterwards, such as pytest's capture handler, also sees the redacted text.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the line
            message = f"{record.msg!r} % {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class ContextFilter(logging.Filter):
    """Stamps the current request context on the record, in the thread/task that logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "context"):
            record.context = current_context()
        return True


# --- formatters ------------------------------------------------------------------------------

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "context",
    "taskName",
}


def _extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = dict(getattr(record, "context", None) or {})
    for key, value in record.__dict__.items():
        if key not in _STANDARD_ATTRS and not key.startswith("_"):
            fields[key] = value
    return fields


def _utc_iso(created: float) -> str:
    return (
        datetime.fromtimestamp(created, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _exception_text(record: logging.LogRecord) -> str | None:
    if record.exc_text:
        return record.exc_text
    if record.exc_info:
        return "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
    return None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then context and extra fields."""

    _RESERVED = frozenset({"time", "level", "logger", "message", "exception", "stack"})

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _utc_iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key, value in _extra_fields(record).items():
            name = f"field_{key}" if key in self._RESERVED else key
            line[name] = _redact_value(value, key)
        exc = _exception_text(record)
        if exc:
            line["exception"] = redact(exc)
        if record.stack_info:
            line["stack"] = redact(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`2025-01-01T12:00:00.000Z INFO  bot.x: message  request_id=R-1 actor=U1` for a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [
            f"{_utc_iso(record.created)} {record.levelname:<5} {record.name}: {record.getMessage()}"
        ]
        fields = _extra_fields(record)
        if fields:
            rendered = " ".join(
                f"{k}={_text_value(_redact_value(v, k))}" for k, v in fields.items()
            )
            parts.append("  " + rendered)
        text = "".join(parts)
        exc = _exception_text(record)
        if exc:
            text += "\n" + exc
        if record.stack_info:
            text += "\n" + record.stack_info
        return redact(text)


def _text_value(value: Any) -> str:
    if isinstance(value, str):
        return value if value and not any(c.isspace() for c in value) else json.dumps(value)
    return json.dumps(value, default=str)


# --- set-up ----------------------------------------------------------------------------------


def configure_logging(
    fmt: LogFormat | None,
    *,
    level: int | str = "INFO",
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send the root logger's output to `stream` (stderr) in `fmt`, redacted and with context.

    `fmt=None` picks JSON when stderr is not a terminal (containers, log shippers) and text when a
    person is watching. Calling it again replaces the handler it installed before rather than
    adding a second one, so tests and the CLI can reconfigure freely.
    """
    out = stream if stream is not None else sys.stderr
    if fmt is None:
        fmt = "text" if _isatty(out) else "json"
    if fmt not in ("json", "text"):
        raise ValueError(f"log format must be 'json' or 'text', not {fmt!r}")

    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactingFilter())
    setattr(handler, _HANDLER_MARK, True)

    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)

    numeric = logging.getLevelName(level) if isinstance(level, str) else level
    lib_level = max(logging.WARNING, numeric if isinstance(numeric, int) else logging.INFO)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(lib_level)
    return handler


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
