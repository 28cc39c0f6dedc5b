"""Decode a leaked Amazon Bedrock API key into what it tells us about its owner, locally.

Nothing here calls AWS. The key string and its secret parts (the long-term key's secret, the
short-term key's session token and signature) are read and dropped: the result keeps only
identifiers, times and a fingerprint. Every error message is a fixed sentence so no part of a
key can leak through an exception, a log line or a Slack message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

from bot.errors import InvalidKey
from bot.revocation.model import DecodedKey, KeyKind
from bot.validation import USER_NAME

LONG_TERM_PREFIX = "ABSK"
SHORT_TERM_PREFIX = "bedrock-api-key-"
BEARER_HOST = "bedrock.amazonaws.com"
MAX_SHORT_TERM_EXPIRY = 43200  # seconds: AWS caps a short-term key at 12 hours

# A session token can be a few kilobytes; anything much longer is not a key and is refused before
# any decoding work is spent on it.
MAX_KEY_LENGTH = 16384


class Msg:
    """Every InvalidKey message. Fixed text only: never format input into these.

    (The S105 waivers below: ruff takes "secret"/"token" in these sentences for credentials.)
    """

    NOT_A_KEY = "not a Bedrock API key: it must start with ABSK or bedrock-api-key-"
    EMPTY = "no key was given"
    TOO_LONG = "too long to be a Bedrock API key"
    BAD_BASE64 = "the key is truncated or not valid base64"
    NOT_TEXT = "the key does not decode to text; it may be truncated or mistyped"
    LT_NO_SEPARATOR = "the long-term key has no alias:secret separator; it may be truncated"
    LT_NO_SECRET = "the long-term key has no secret part; it may be truncated"  # noqa: S105
    ST_NOT_BEDROCK = "not signed for bedrock.amazonaws.com"
    ST_BAD_QUERY = "the short-term key's parameters cannot be read; it may be truncated"
    ST_DUPLICATE = "the short-term key repeats a parameter"
    ST_NOT_BEARER = "not a bearer-token request (Action is not CallWithBearerToken)"
    ST_NO_ALGORITHM = "missing X-Amz-Algorithm"
    ST_BAD_ALGORITHM = "unsupported signing algorithm (expected AWS4-HMAC-SHA256)"
    ST_NO_CREDENTIAL = "missing X-Amz-Credential"
    ST_BAD_CREDENTIAL = "X-Amz-Credential is not <key id>/<date>/<region>/bedrock/aws4_request"
    ST_NOT_BEDROCK_SERVICE = "not signed for the bedrock service"
    ST_BAD_ACCESS_KEY = "the signing access key id is not an AKIA (user) or ASIA (session) key id"
    ST_BAD_REGION = "the key's region is not a valid AWS region name"
    ST_NO_DATE = "missing X-Amz-Date"
    ST_BAD_DATE = "X-Amz-Date is not a YYYYMMDDTHHMMSSZ time"
    ST_DATE_MISMATCH = "X-Amz-Date does not match the date in X-Amz-Credential"
    ST_NO_EXPIRES = "missing X-Amz-Expires"
    ST_BAD_EXPIRES = "X-Amz-Expires is not a positive number of seconds"
    ST_EXPIRES_TOO_LONG = "expiry longer than 12 hours"
    ST_NO_SIGNED_HEADERS = "missing X-Amz-SignedHeaders"
    ST_NO_SIGNATURE = "missing X-Amz-Signature"
    ST_BAD_SIGNATURE = "X-Amz-Signature is not 64 hex characters; the key may be truncated"
    ST_NO_SESSION_TOKEN = "signed by a session (ASIA) but the session token is missing"  # noqa: S105
    ST_UNEXPECTED_TOKEN = "signed with a user access key (AKIA) but carries a session token"  # noqa: S105
    ST_BAD_VERSION = "unsupported token version (expected Version=1)"


MESSAGES: frozenset[str] = frozenset(
    v for k, v in vars(Msg).items() if not k.startswith("_") and isinstance(v, str)
)

_QUOTES = "\"'`"
# What a paste puts inside a key without changing it: whitespace where a terminal or a chat client
# wraps it, and the zero-width characters some clients insert at a wrap point.
_GAP_CHARS = "\\s\u00ad\u200b-\u200d\u2060\ufeff"
_GAP = re.compile(f"[{_GAP_CHARS}]+")
# Base64's own "+", "/" and "=" percent-encoded, as a URL, a form or a log of either carries a
# key. A key never contains "%" itself, so decoding these three changes nothing else.
_PERCENT_ESCAPES = {"%2B": "+", "%2F": "/", "%3D": "="}
_PERCENT = re.compile("|".join(_PERCENT_ESCAPES), re.IGNORECASE)
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_ALIAS = re.compile(r"(.+)-at-([0-9]{12})", re.DOTALL)
_COPY_SUFFIX = re.compile(r"(.+)\+[0-9]+", re.DOTALL)
_ACCESS_KEY_ID = re.compile(r"(AKIA|ASIA)[A-Z0-9]{12,124}")
_REGION = re.compile(r"[a-z]{2}(?:-[a-z0-9]+){1,4}")
_DATE = re.compile(r"[0-9]{8}")
_AMZ_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_SECONDS = re.compile(r"[0-9]{1,9}")


def normalize(key: str) -> str:
    """The key as it was issued, from however it was pasted.

    Copy-paste brings surrounding quotes (from code and .env files) and whitespace, chat clients
    and terminals wrap long strings, and URLs percent-encode base64's "+/=". A key never contains
    whitespace, quotes or "%", so all of that is undone. `find_secrets` spans exactly what this
    removes, so whatever decodes as a key is also found, and redacted, inside text.
    """
    previous = None
    while previous != key:
        previous = key
        key = key.strip().strip(_QUOTES)
    key = _GAP.sub("", key)
    return _PERCENT.sub(lambda m: _PERCENT_ESCAPES[m.group(0).upper()], key)


def fingerprint(key: str) -> str:
    """First 8 hex chars of the SHA-256 of the normalized key: enough to tell keys apart in a
    thread, far too little to recover or test guesses of the key."""
    # surrogatepass: a paste can carry lone surrogates, and fingerprinting must never fail.
    data = normalize(key).encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()[:8]


# --- keys inside free text -------------------------------------------------------------------
#
# People paste the leaked key where they should not (a reason, a reject note), and IAM error
# messages can quote what they were given. A key in text is found the way `decode` reads one: a
# prefix, then runs of base64 (or its percent-escapes) separated by the gaps `normalize` removes,
# so a key wrapped, spaced or URL-encoded is found as surely as one pasted whole.

_KEY_CHAR = r"(?:[A-Za-z0-9+/=_-]|%2[BbFf]|%3[Dd])"
_KEY_RUN = re.compile(f"{_KEY_CHAR}+")
# Everything after a prefix that could still be part of its key: runs of key characters with
# the gaps `normalize` removes between them.
_KEY_REGION = re.compile(f"(?:[{_GAP_CHARS}]*{_KEY_CHAR}+)*")
_PREFIX_IN_TEXT = re.compile(
    "|".join(
        f"[{_GAP_CHARS}]*".join(re.escape(c) for c in prefix)
        for prefix in (LONG_TERM_PREFIX, SHORT_TERM_PREFIX)
    )
)
# A key that does not decode (truncated, mistyped) is still secret: after a prefix, a first run of
# 16+ key characters is taken for one, while the bare words "ABSK" or "bedrock-api-key-" in an
# explanation stay as they are.
_MIN_UNDECODED_RUN = 16
# Where a key ends is found by decoding candidate ends, longest first. Text that keeps decoding
# to printable characters (made to, since real text does not) could ask for thousands of tries;
# past this many, all of it is redacted instead.
_MAX_DECODE_TRIES = 32
_SLACK_TOKEN = re.compile(r"(?:xox[abeoprs]|xapp)-[A-Za-z0-9-]{10,}")
KEY_LABEL = "Bedrock API key"
KEY_REMOVED_NOTE = "(a key was removed from this text)"


def find_secrets(text: str) -> list[tuple[int, int, str]]:
    """Where the Bedrock API keys and Slack tokens are in `text`: (start, end, label), in order.

    After a prefix, a key runs as far as `decode` still reads it: the longest run of the
    following chunks that decodes (so a wrapped key is taken whole, and a word after it only
    when the two together still decode). When no run decodes, all of them are taken, provided the
    first is long enough to be a key rather than a word. A key's region stops at the next prefix,
    which keeps the search linear in the text.
    """
    found: list[tuple[int, int, str]] = []
    prefixes = list(_PREFIX_IN_TEXT.finditer(text))
    now = datetime.now(UTC)
    for i, prefix in enumerate(prefixes):
        limit = prefixes[i + 1].start() if i + 1 < len(prefixes) else len(text)
        end = _key_end(text, prefix, limit, now)
        if end is not None:
            found.append((prefix.start(), end, KEY_LABEL))
    for token in _SLACK_TOKEN.finditer(text):
        if not any(s <= token.start() < e for s, e, _ in found):
            found.append((token.start(), token.end(), "Slack token"))
    return sorted(found)


def _key_end(text: str, prefix: re.Match[str], limit: int, now: datetime) -> int | None:
    """Where the key starting with `prefix` ends (at most at `limit`), or None if none is there."""
    region = _KEY_REGION.match(text, prefix.end(), limit)
    assert region is not None  # the pattern matches the empty string
    ends: list[int] = []  # where each chunk ends in `text`
    lengths: list[int] = []  # the normalized body's length up to there
    body = ""
    first_run = 0
    greedy_end = prefix.end()  # where the fallback stops: past the longest key there can be
    for chunk in _KEY_RUN.finditer(text, prefix.end(), region.end()):
        piece = normalize(chunk.group(0))
        first_run = first_run or len(piece)
        greedy_end = chunk.end()
        if len(body) + len(piece) > MAX_KEY_LENGTH:
            break
        body += piece
        ends.append(chunk.end())
        lengths.append(len(body))
    fallback = greedy_end if first_run >= _MIN_UNDECODED_RUN else None
    head = _GAP.sub("", prefix.group(0))
    viable = _Viable(body)
    tries = 0
    for end, length in reversed(list(zip(ends, lengths, strict=True))):
        if not viable(length):
            continue
        tries += 1
        if tries > _MAX_DECODE_TRIES:
            return greedy_end
        if _decodes(head + body[:length], now):
            return end
    return fallback


class _Viable:
    """Which lengths of a key body `decode` could possibly read, worked out once per body: base64
    with padding only at its end, decoding to printable UTF-8 (both kinds of key are text). The
    full decode then runs only where this holds, a handful of times in real text."""

    def __init__(self, body: str) -> None:
        self._std = body.replace("-", "+").replace("_", "/")
        padding = self._std.find("=")
        self._cut = len(self._std) if padding < 0 else padding
        raw = _b64(self._std[: self._cut // 4 * 4]) or b""
        self._good_bytes = _printable_prefix(raw)

    def __call__(self, length: int) -> bool:
        if length > self._cut and (
            length > self._cut + 2 or self._std[self._cut : length].strip("=")
        ):
            return False
        data = min(length, self._cut)
        return data % 4 != 1 and data // 4 * 3 <= self._good_bytes


def _printable_prefix(raw: bytes) -> int:
    """How many leading bytes of `raw` are printable UTF-8 text."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = raw[: exc.start].decode("utf-8")
    if text.isprintable():
        return len(text.encode("utf-8"))
    first_bad = next(i for i, c in enumerate(text) if not c.isprintable())
    return len(text[:first_bad].encode("utf-8"))


def _decodes(cleaned: str, now: datetime) -> bool:
    try:
        _decode_cleaned(cleaned, now)
    except InvalidKey:
        return False
    return True


def redact_secrets(text: str) -> str:
    """Replace every Bedrock API key (or Slack token) in free text by its fingerprint.

    Whatever the path, a pasted key must not reach a message, the store or the audit. The
    fingerprint matches the one the thread shows, however the key was wrapped or encoded.
    """
    found = find_secrets(text)
    if not found:
        return text
    parts: list[str] = []
    position = 0
    for start, end, label in found:
        parts.append(text[position:start])
        parts.append(f"[{label} {fingerprint(text[start:end])}]")
        position = end
    parts.append(text[position:])
    return "".join(parts)


def redact_free_text(text: str) -> str:
    """`redact_secrets` for what a person wrote (a reason, a note), which then says that a key
    was taken out, so readers know the text is not as typed."""
    redacted = redact_secrets(text)
    if redacted == text:
        return text
    return f"{redacted.rstrip()} {KEY_REMOVED_NOTE}"


def looks_like_key(text: str) -> bool:
    """Whether text should be routed to `decode` rather than read as an id or a name."""
    cleaned = normalize(text)
    return cleaned.startswith((LONG_TERM_PREFIX, SHORT_TERM_PREFIX))


def find_key(text: str) -> str | None:
    """The key in what someone typed: all of it when it looks like one (`looks_like_key`), else
    the first key among other words ("revoke ABSK…"), else None."""
    if looks_like_key(text):
        return text
    for start, end, label in find_secrets(text):
        if label == KEY_LABEL:
            return text[start:end]
    return None


def decode(key: str, *, now: datetime | None = None) -> DecodedKey:
    """Decode a pasted key. Raises InvalidKey with a fixed, input-free message."""
    if not isinstance(key, str):
        raise InvalidKey(Msg.NOT_A_KEY)
    if len(key) > MAX_KEY_LENGTH * 2:
        raise InvalidKey(Msg.TOO_LONG)
    cleaned = normalize(key)
    if not cleaned:
        raise InvalidKey(Msg.EMPTY)
    if len(cleaned) > MAX_KEY_LENGTH:
        raise InvalidKey(Msg.TOO_LONG)
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return _decode_cleaned(cleaned, now)


def _decode_cleaned(cleaned: str, now: datetime) -> DecodedKey:
    if cleaned.startswith(SHORT_TERM_PREFIX):
        return _decode_short_term(cleaned, now)
    if cleaned.startswith(LONG_TERM_PREFIX):
        return _decode_long_term(cleaned)
    raise InvalidKey(Msg.NOT_A_KEY)


def _payload(body: str) -> str:
    """Base64 text to str. Raised outside any `except` so no decoder error, which can quote the
    input, ends up as the InvalidKey's context."""
    # Some tools re-encode with the URL-safe alphabet or drop the padding; the key is the same.
    body = body.replace("-", "+").replace("_", "/")
    body += "=" * (-len(body) % 4)
    if not body or not _BASE64.fullmatch(body):
        raise InvalidKey(Msg.BAD_BASE64)
    raw = _b64(body)
    if raw is None:
        raise InvalidKey(Msg.BAD_BASE64)
    text = _utf8(raw)
    if text is None or not text.isprintable():
        raise InvalidKey(Msg.NOT_TEXT)
    return text


def _b64(body: str) -> bytes | None:
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return None


def _utf8(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _decode_long_term(cleaned: str) -> DecodedKey:
    text = _payload(cleaned[len(LONG_TERM_PREFIX) :])
    alias, sep, secret = text.partition(":")
    if not sep:
        raise InvalidKey(Msg.LT_NO_SEPARATOR)
    if not secret:
        raise InvalidKey(Msg.LT_NO_SECRET)
    del secret  # never kept, never returned
    # AWS documents the alias only as the user name plus "a suffix containing version and
    # creation information"; `<user>[+N]-at-<account>` is what it looks like today. An alias of
    # another shape is kept as it is (user and account unknown): resolution then finds the key
    # by its exact alias over every user's keys instead of refusing it.
    name: str | None = None
    account_id: str | None = None
    # User names may themselves contain "-at-" and "+": only the last "-at-" followed by exactly
    # twelve digits at the very end separates the account.
    parts = _ALIAS.fullmatch(alias)
    if parts is not None:
        name, account_id = parts.group(1), parts.group(2)
        # IAM numbers a user's further credentials "<user>+N"; a user name that itself ends in
        # +<digits> is possible (resolution falls back to the exact alias for it).
        copy = _COPY_SUFFIX.fullmatch(name)
        if copy is not None:
            name = copy.group(1)
        if not USER_NAME.fullmatch(name):
            name = None
    return DecodedKey(
        kind=KeyKind.LONG_TERM,
        fingerprint=fingerprint(cleaned),
        alias=alias,
        user_name=name,
        account_id=account_id,
    )


def _query(text: str) -> dict[str, str]:
    # The generator strips the scheme; other tools may keep it.
    for scheme in ("https://", "http://"):
        if text.lower().startswith(scheme):
            text = text[len(scheme) :]
            break
    host, sep, query = text.partition("?")
    if not sep or host.lower().rstrip("/") != BEARER_HOST:
        raise InvalidKey(Msg.ST_NOT_BEDROCK)
    params: dict[str, str] = {}
    for part in query.split("&"):
        name, eq, value = part.partition("=")
        if not eq or not name:
            raise InvalidKey(Msg.ST_BAD_QUERY)
        if name in params:
            raise InvalidKey(Msg.ST_DUPLICATE)
        params[name] = unquote(value, errors="strict") if "%" in value else value
    return params


def _decode_short_term(cleaned: str, now: datetime) -> DecodedKey:
    text = _payload(cleaned[len(SHORT_TERM_PREFIX) :])
    params = _safe_query(text)

    if params.get("Action") != "CallWithBearerToken":
        raise InvalidKey(Msg.ST_NOT_BEARER)
    if "X-Amz-Algorithm" not in params:
        raise InvalidKey(Msg.ST_NO_ALGORITHM)
    if params["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256":
        raise InvalidKey(Msg.ST_BAD_ALGORITHM)

    if "X-Amz-Credential" not in params:
        raise InvalidKey(Msg.ST_NO_CREDENTIAL)
    scope = params["X-Amz-Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not _DATE.fullmatch(scope[1]):
        raise InvalidKey(Msg.ST_BAD_CREDENTIAL)
    access_key_id, scope_date, region, service, _ = scope
    if service != "bedrock":
        raise InvalidKey(Msg.ST_NOT_BEDROCK_SERVICE)
    if not _ACCESS_KEY_ID.fullmatch(access_key_id):
        raise InvalidKey(Msg.ST_BAD_ACCESS_KEY)
    if not _REGION.fullmatch(region):
        raise InvalidKey(Msg.ST_BAD_REGION)

    if "X-Amz-Date" not in params:
        raise InvalidKey(Msg.ST_NO_DATE)
    issued_at = _amz_date(params["X-Amz-Date"])
    if issued_at is None:
        raise InvalidKey(Msg.ST_BAD_DATE)
    if params["X-Amz-Date"][:8] != scope_date:
        raise InvalidKey(Msg.ST_DATE_MISMATCH)

    if "X-Amz-Expires" not in params:
        raise InvalidKey(Msg.ST_NO_EXPIRES)
    if not _SECONDS.fullmatch(params["X-Amz-Expires"]) or int(params["X-Amz-Expires"]) <= 0:
        raise InvalidKey(Msg.ST_BAD_EXPIRES)
    lifetime = int(params["X-Amz-Expires"])
    if lifetime > MAX_SHORT_TERM_EXPIRY:
        raise InvalidKey(Msg.ST_EXPIRES_TOO_LONG)

    if not params.get("X-Amz-SignedHeaders"):
        raise InvalidKey(Msg.ST_NO_SIGNED_HEADERS)
    if "X-Amz-Signature" not in params:
        raise InvalidKey(Msg.ST_NO_SIGNATURE)
    if not _SIGNATURE.fullmatch(params["X-Amz-Signature"]):
        raise InvalidKey(Msg.ST_BAD_SIGNATURE)

    signed_by = "session" if access_key_id.startswith("ASIA") else "user"
    has_token = bool(params.get("X-Amz-Security-Token"))
    if signed_by == "session" and not has_token:
        raise InvalidKey(Msg.ST_NO_SESSION_TOKEN)
    if signed_by == "user" and "X-Amz-Security-Token" in params:
        raise InvalidKey(Msg.ST_UNEXPECTED_TOKEN)
    # The reference shape ends in Version=1; keys from tools that omit it are still accepted, as
    # the signature check above already catches truncation.
    if params.get("Version", "1") != "1":
        raise InvalidKey(Msg.ST_BAD_VERSION)
    params.clear()  # drops the session token and signature as early as possible

    expires_at = issued_at + timedelta(seconds=lifetime)
    return DecodedKey(
        kind=KeyKind.SHORT_TERM,
        fingerprint=fingerprint(cleaned),
        access_key_id=access_key_id,
        signed_by=signed_by,
        region=region,
        issued_at=issued_at,
        expires_at=expires_at,
        expired=now.astimezone(UTC) >= expires_at,
    )


def _safe_query(text: str) -> dict[str, str]:
    params: dict[str, str] | None
    try:
        params = _query(text)
    except UnicodeDecodeError:
        # The decoder's error quotes the offending bytes: raise outside the handler so it is
        # not even the InvalidKey's __context__.
        params = None
    if params is None:
        raise InvalidKey(Msg.ST_BAD_QUERY)
    return params


def _amz_date(value: str) -> datetime | None:
    if not _AMZ_DATE.fullmatch(value):
        return None
    try:
        return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
