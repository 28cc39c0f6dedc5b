from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import boto3
import pytest
from aws_bedrock_token_generator import BedrockTokenGenerator, provide_token
from botocore.credentials import Credentials
from hypothesis import example, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from bot import keys
from bot.errors import InvalidKey
from bot.revocation.model import DecodedKey, KeyKind

USER_AKID = "AKIAIOSFODNN7EXAMPLE"
USER_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
LT_SECRET = "Zx9kQ2mN7pL4vR8sT1uW3yA5bC6dE0fGhJ2kL4mN6pQ8r="


def long_term(alias: str, secret: str = LT_SECRET) -> str:
    return "ABSK" + base64.b64encode(f"{alias}:{secret}".encode()).decode()


def short_term_plaintext(key: str) -> str:
    return base64.b64decode(key.removeprefix("bedrock-api-key-")).decode()


def reencode(plaintext: str) -> str:
    return "bedrock-api-key-" + base64.b64encode(plaintext.encode()).decode()


def secret_parts(key: str) -> list[str]:
    """The parts of a key that must never be echoed: LT secret, ST token and signature."""
    if key.startswith("ABSK"):
        return [base64.b64decode(key[4:]).decode().partition(":")[2], key[4:]]
    params = dict(parse_qsl(short_term_plaintext(key).partition("?")[2]))
    return [key[16:]] + [
        params[p] for p in ("X-Amz-Security-Token", "X-Amz-Signature") if p in params
    ]


def windows(text: str, size: int = 12) -> Iterator[str]:
    for i in range(0, max(1, len(text) - size + 1)):
        yield text[i : i + size]


@pytest.fixture(scope="module")
def session_credentials() -> Credentials:
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        role = iam.create_role(RoleName="leaky", AssumeRolePolicyDocument="{}")["Role"]
        sts = boto3.client("sts", region_name="us-east-1")
        creds = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="ci")["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    return Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])


@pytest.fixture(scope="module")
def session_key(session_credentials: Credentials) -> str:
    return str(BedrockTokenGenerator().get_token(session_credentials, "us-west-2"))


@pytest.fixture(scope="module")
def user_key() -> str:
    return str(BedrockTokenGenerator().get_token(Credentials(USER_AKID, USER_SECRET), "eu-west-1"))


# --- short-term keys -------------------------------------------------------------------------


def test_generator_shape_is_what_decode_expects(session_key: str) -> None:
    # Pins the shape we rely on: standard padded base64 of a scheme-less URL ending in Version=1.
    text = short_term_plaintext(session_key)
    assert text.startswith("bedrock.amazonaws.com/?Action=CallWithBearerToken&")
    assert text.endswith("&Version=1")
    assert session_key.startswith("bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t")


def test_decode_session_key(session_key: str, session_credentials: Credentials) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    got = keys.decode(session_key)
    assert got.kind is KeyKind.SHORT_TERM
    assert got.access_key_id == session_credentials.access_key
    assert got.signed_by == "session"
    assert got.region == "us-west-2"
    assert got.issued_at is not None and got.expires_at is not None
    assert abs(got.issued_at - before) < timedelta(minutes=1)
    assert got.expires_at - got.issued_at == timedelta(hours=12)
    assert got.expired is False
    assert got.alias is None and got.user_name is None and got.account_id is None
    assert got.fingerprint == hashlib.sha256(session_key.encode()).hexdigest()[:8]


def test_decode_user_signed_key(user_key: str) -> None:
    got = keys.decode(user_key)
    assert got.access_key_id == USER_AKID
    assert got.signed_by == "user"
    assert got.region == "eu-west-1"


@pytest.mark.parametrize("region", ["us-east-1", "ap-southeast-2", "eu-central-1", "us-gov-west-1"])
def test_regions(region: str) -> None:
    key = provide_token(
        region=region,
        aws_credentials_provider=_Static(Credentials(USER_AKID, USER_SECRET)),
        expiry=timedelta(minutes=15),
    )
    got = keys.decode(key)
    assert got.region == region
    assert got.expires_at is not None and got.issued_at is not None
    assert got.expires_at - got.issued_at == timedelta(minutes=15)


class _Static:
    def __init__(self, creds: Credentials) -> None:
        self.creds = creds

    def load(self) -> Credentials:
        return self.creds


def test_expiry_relative_to_now(user_key: str) -> None:
    got = keys.decode(user_key)
    assert got.expires_at is not None
    assert keys.decode(user_key, now=got.expires_at - timedelta(seconds=1)).expired is False
    assert keys.decode(user_key, now=got.expires_at).expired is True
    assert keys.decode(user_key, now=got.expires_at + timedelta(days=3)).expired is True
    # a naive `now` is read as UTC rather than compared by local time
    naive = (got.expires_at - timedelta(seconds=1)).replace(tzinfo=None)
    assert keys.decode(user_key, now=naive).expired is False


def test_copy_paste_noise_is_tolerated(session_key: str) -> None:
    clean = keys.decode(session_key)
    wrapped = "\n".join(session_key[i : i + 60] for i in range(0, len(session_key), 60))
    for pasted in (f'  "{session_key}"\n', f"'{session_key}'", f"`{session_key}`\r\n", wrapped):
        got = keys.decode(pasted)
        assert got == clean
        assert keys.fingerprint(pasted) == clean.fingerprint


def test_unpadded_and_urlsafe_base64_are_the_same_key(session_key: str) -> None:
    body = session_key[16:]
    urlsafe = body.translate(str.maketrans("+/", "-_")).rstrip("=")
    got = keys.decode("bedrock-api-key-" + urlsafe)
    assert got.access_key_id == keys.decode(session_key).access_key_id


def test_scheme_is_accepted(user_key: str) -> None:
    got = keys.decode(reencode("https://" + short_term_plaintext(user_key)))
    assert got.access_key_id == USER_AKID


def _replace(key: str, old: str, new: str) -> str:
    text = short_term_plaintext(key)
    assert old in text
    return reencode(text.replace(old, new, 1))


def _drop(key: str, param: str) -> str:
    text = short_term_plaintext(key)
    host, _, query = text.partition("?")
    kept = [p for p in query.split("&") if not p.startswith(param + "=")]
    return reencode(host + "?" + "&".join(kept))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda k: _drop(k, "X-Amz-Credential"), "missing X-Amz-Credential"),
        (lambda k: _drop(k, "X-Amz-Algorithm"), "missing X-Amz-Algorithm"),
        (lambda k: _drop(k, "X-Amz-Date"), "missing X-Amz-Date"),
        (lambda k: _drop(k, "X-Amz-Expires"), "missing X-Amz-Expires"),
        (lambda k: _drop(k, "X-Amz-Signature"), "missing X-Amz-Signature"),
        (lambda k: _drop(k, "X-Amz-SignedHeaders"), "missing X-Amz-SignedHeaders"),
        (lambda k: _drop(k, "X-Amz-Security-Token"), keys.Msg.ST_NO_SESSION_TOKEN),
        (lambda k: _replace(k, "X-Amz-Expires=43200", "X-Amz-Expires=43201"), "expiry longer"),
        (lambda k: _replace(k, "X-Amz-Expires=43200", "X-Amz-Expires=0"), keys.Msg.ST_BAD_EXPIRES),
        (lambda k: _replace(k, "X-Amz-Expires=43200", "X-Amz-Expires=-5"), keys.Msg.ST_BAD_EXPIRES),
        (
            lambda k: _replace(k, "bedrock.amazonaws.com/", "evil.example.com/"),
            "not signed for bedrock.amazonaws.com",
        ),
        (
            lambda k: _replace(k, "bedrock.amazonaws.com/", "sts.amazonaws.com/"),
            "not signed for bedrock.amazonaws.com",
        ),
        (lambda k: _replace(k, "%2Fbedrock%2F", "%2Fs3%2F"), keys.Msg.ST_NOT_BEDROCK_SERVICE),
        (lambda k: _replace(k, "ASIA", "AIDA"), keys.Msg.ST_BAD_ACCESS_KEY),
        (lambda k: _replace(k, "%2Fus-west-2%2F", "%2FUS_WEST%2F"), keys.Msg.ST_BAD_REGION),
        (lambda k: _replace(k, "%2Faws4_request", "%2Faws4"), keys.Msg.ST_BAD_CREDENTIAL),
        (
            lambda k: _replace(k, "Action=CallWithBearerToken", "Action=AssumeRole"),
            keys.Msg.ST_NOT_BEARER,
        ),
        (
            lambda k: _replace(k, "AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256"),
            keys.Msg.ST_BAD_ALGORITHM,
        ),
        (lambda k: _replace(k, "X-Amz-Date=", "X-Amz-Date=1"), keys.Msg.ST_BAD_DATE),
        (lambda k: _replace(k, "&Version=1", "&Version=2"), keys.Msg.ST_BAD_VERSION),
        (lambda k: _replace(k, "&Version=1", "&Version=1&Action=x"), keys.Msg.ST_DUPLICATE),
        (lambda k: _replace(k, "&Version=1", "&Version"), keys.Msg.ST_BAD_QUERY),
        (lambda k: _replace(k, "&Version=1", "&Version=1&x=%FF"), keys.Msg.ST_BAD_QUERY),
        (lambda k: reencode(short_term_plaintext(k)[:-40]), keys.Msg.ST_BAD_SIGNATURE),
        (lambda k: reencode(short_term_plaintext(k).replace("?", "")), "not signed for bedrock"),
        (lambda k: k[:-3], keys.Msg.BAD_BASE64),
        (lambda k: k[:-1] + "!", keys.Msg.BAD_BASE64),
        (
            lambda k: "bedrock-api-key-" + base64.b64encode(b"\xff\xfe\x00").decode(),
            keys.Msg.NOT_TEXT,
        ),
        (lambda k: "bedrock-api-key-", keys.Msg.BAD_BASE64),
    ],
)
def test_short_term_errors(session_key: str, mutate: Any, message: str) -> None:
    bad = mutate(session_key)
    with pytest.raises(InvalidKey) as err:
        keys.decode(bad)
    assert message in err.value.message
    assert err.value.field == "identifier"
    _assert_clean_error(err.value, bad)


def test_date_must_match_scope(user_key: str) -> None:
    text = short_term_plaintext(user_key)
    date = dict(parse_qsl(text.partition("?")[2]))["X-Amz-Date"]
    bad = reencode(text.replace(f"X-Amz-Date={date}", "X-Amz-Date=20000101T000000Z"))
    with pytest.raises(InvalidKey, match="does not match"):
        keys.decode(bad)


def test_user_key_with_session_token_is_refused(user_key: str) -> None:
    bad = _replace(user_key, "&X-Amz-Signature", "&X-Amz-Security-Token=abc&X-Amz-Signature")
    with pytest.raises(InvalidKey, match="AKIA"):
        keys.decode(bad)


def test_missing_version_is_accepted(user_key: str) -> None:
    assert keys.decode(_replace(user_key, "&Version=1", "")).signed_by == "user"


# --- long-term keys --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alias", "user"),
    [
        ("BedrockAPIKey-7q2x-at-123456789012", "BedrockAPIKey-7q2x"),
        ("BedrockAPIKey-7q2x+1-at-123456789012", "BedrockAPIKey-7q2x"),
        ("alice-at-home-at-210987654321", "alice-at-home"),
        ("bob+ops+12-at-000000000001", "bob+ops"),
        ("x-at-123456789012", "x"),
        ("a.b@c=d,e_f-at-123456789012", "a.b@c=d,e_f"),
    ],
)
def test_decode_long_term(alias: str, user: str) -> None:
    key = long_term(alias)
    got = keys.decode(key)
    assert got.kind is KeyKind.LONG_TERM
    assert got.alias == alias
    assert got.user_name == user
    assert got.account_id == alias[-12:]
    assert got.fingerprint == hashlib.sha256(key.encode()).hexdigest()[:8]
    assert got.access_key_id is None and got.region is None and got.expired is None


def test_long_term_secret_may_contain_colons() -> None:
    got = keys.decode(long_term("carol-at-123456789012", secret="a:b:c"))
    assert got.user_name == "carol"


@pytest.mark.parametrize(
    ("alias", "user", "account"),
    [
        ("alice-at-12345678901", None, None),
        ("alice-at-1234567890123", None, None),
        ("alice@123456789012", None, None),
        ("-at-123456789012", None, None),
        ("al ice-at-123456789012", None, "123456789012"),
        ("a/b-at-123456789012", None, "123456789012"),
        ("u" * 65 + "-at-123456789012", None, "123456789012"),
        ("alice.v2.20261130-at-123456789012", "alice.v2.20261130", "123456789012"),
    ],
)
def test_an_alias_of_another_shape_is_kept_not_refused(
    alias: str, user: str | None, account: str | None
) -> None:
    # AWS documents the alias as the user name plus a version/creation suffix, not a format:
    # resolution matches the exact alias over every user's keys when it does not parse.
    got = keys.decode(long_term(alias))
    assert got.alias == alias
    assert got.user_name == user and got.account_id == account


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (long_term("alice-at-123456789012", secret=""), keys.Msg.LT_NO_SECRET),
        ("ABSK" + base64.b64encode(b"alice-at-123456789012").decode(), keys.Msg.LT_NO_SEPARATOR),
        ("ABSK", keys.Msg.BAD_BASE64),
        ("ABSK" + "Q" * 5, keys.Msg.BAD_BASE64),
        ("ABSK$$$$", keys.Msg.BAD_BASE64),
        ("ABSK" + base64.b64encode(b"\x80\x81:xx").decode(), keys.Msg.NOT_TEXT),
        ("ABSK" + base64.b64encode(b"a\x00-at-123456789012:s").decode(), keys.Msg.NOT_TEXT),
    ],
)
def test_long_term_errors(key: str, message: str) -> None:
    with pytest.raises(InvalidKey) as err:
        keys.decode(key)
    assert err.value.message == message
    _assert_clean_error(err.value, key)


# --- anything else ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", keys.Msg.EMPTY),
        ('  "" \n', keys.Msg.EMPTY),
        ("AKIAIOSFODNN7EXAMPLE", keys.Msg.NOT_A_KEY),
        ("ACCA1234567890ABCDEFGH", keys.Msg.NOT_A_KEY),
        ("absk" + base64.b64encode(b"alice-at-123456789012:s").decode(), keys.Msg.NOT_A_KEY),
        ("Bearer bedrock-api-key-abc", keys.Msg.NOT_A_KEY),
        ("ABSK" + "A" * 20000, keys.Msg.TOO_LONG),
        ("x" * 100000, keys.Msg.TOO_LONG),
    ],
)
def test_not_a_key(text: str, message: str) -> None:
    with pytest.raises(InvalidKey) as err:
        keys.decode(text)
    assert err.value.message == message
    _assert_clean_error(err.value, text)


def test_message_spells_out_the_prefixes() -> None:
    with pytest.raises(InvalidKey, match="must start with ABSK or bedrock-api-key-"):
        keys.decode("sk-proj-abcdef")


def test_looks_like_key(session_key: str) -> None:
    assert keys.looks_like_key(session_key)
    assert keys.looks_like_key(f'  "{long_term("a-at-123456789012")}"\n')
    assert keys.looks_like_key("ABSK")  # prefix only: decode then says what is wrong
    assert not keys.looks_like_key("alice")
    assert not keys.looks_like_key("ACCA1234567890ABCDEFGH")
    assert not keys.looks_like_key("AKIAIOSFODNN7EXAMPLE")
    assert not keys.looks_like_key("")


def test_fingerprint() -> None:
    assert keys.fingerprint("abc") == hashlib.sha256(b"abc").hexdigest()[:8]
    assert keys.fingerprint(" 'abc'\n") == keys.fingerprint("abc")
    assert keys.fingerprint("abc") != keys.fingerprint("abd")
    assert len(keys.fingerprint("\ud800")) == 8  # a lone surrogate from a bad paste


def test_nothing_secret_in_repr_or_dump(session_key: str, user_key: str) -> None:
    for key in (session_key, user_key, long_term("bob+1-at-123456789012")):
        got = keys.decode(key)
        shown = repr(got) + str(got) + got.model_dump_json()
        assert key not in shown
        for part in secret_parts(key):
            for w in windows(part):
                assert w not in shown


def test_error_has_no_chained_exception(session_key: str) -> None:
    for bad in ("ABSK!!!!", session_key[:-3], _replace(session_key, "&Version=1", "&x=%FF")):
        with pytest.raises(InvalidKey) as err:
            keys.decode(bad)
        assert err.value.__cause__ is None
        assert err.value.__context__ is None


# --- properties ------------------------------------------------------------------------------


def _assert_clean_error(err: InvalidKey, inp: str, secrets: list[str] | None = None) -> None:
    msg = str(err)
    assert msg == err.message
    assert msg in keys.MESSAGES  # fixed sentences only
    assert err.__cause__ is None and err.__context__ is None
    stripped = inp.strip()
    # Hypothesis also draws from string literals in the code under test, so an input can be a
    # piece of one of our own fixed sentences; only then may it appear in the message.
    for candidate in {inp, stripped}:
        if len(candidate) >= 4 and not any(candidate in m for m in keys.MESSAGES):
            assert candidate not in msg
    for part in secrets or []:
        for w in windows(part):
            if len(w) >= 12:
                assert w not in msg


def _decode_or_invalid(inp: str, secrets: list[str] | None = None) -> None:
    try:
        got = keys.decode(inp)
    except InvalidKey as err:
        _assert_clean_error(err, inp, secrets)
        return
    assert isinstance(got, DecodedKey)
    shown = repr(got)
    for part in secrets or []:
        for w in windows(part):
            if len(w) >= 12:
                assert w not in shown


@given(st.text(max_size=300))
@example("bedrock-api-key-")
@example("ABSK====")
@example("ABSK" + base64.b64encode(b"\x00:\x00").decode())
def test_arbitrary_text(text: str) -> None:
    _decode_or_invalid(text)
    _decode_or_invalid("ABSK" + text)
    _decode_or_invalid("bedrock-api-key-" + text)


@given(st.binary(max_size=300), st.sampled_from(["latin-1", "cp1252", "utf-16-le"]))
def test_arbitrary_bytes(raw: bytes, encoding: str) -> None:
    _decode_or_invalid(raw.decode(encoding, errors="replace"))
    encoded = base64.b64encode(raw).decode()
    _decode_or_invalid("ABSK" + encoded)
    _decode_or_invalid("bedrock-api-key-" + encoded)


GENUINE = [
    str(BedrockTokenGenerator().get_token(Credentials(USER_AKID, USER_SECRET), "eu-west-1")),
    str(
        BedrockTokenGenerator().get_token(
            Credentials("ASIAQEXAMPLE7XK2M9PZ", USER_SECRET, "IQoJb3JpZ2luX2VjE" + "Ab+/=" * 40),
            "ap-northeast-1",
        )
    ),
    long_term("BedrockAPIKey-9z8y+1-at-123456789012"),
]


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, list[str]]:
    key = draw(st.sampled_from(GENUINE))
    secrets = secret_parts(key)
    # Mutate either the key as pasted or the decoded text inside it, so that mutations reach
    # the query parser and not only the base64 check.
    inner = draw(st.booleans())
    if inner:
        prefix = "ABSK" if key.startswith("ABSK") else "bedrock-api-key-"
        text = base64.b64decode(key[len(prefix) :]).decode()
    else:
        prefix, text = "", key
    op = draw(st.sampled_from(["truncate", "flip", "delete", "insert", "duplicate"]))
    i = draw(st.integers(0, len(text)))
    if op == "truncate":
        text = text[:i]
    elif op == "flip":
        text = text[:i] + draw(st.characters()) + text[i + 1 :]
    elif op == "delete":
        j = draw(st.integers(i, len(text)))
        text = text[:i] + text[j:]
    elif op == "insert":
        text = text[:i] + draw(st.text(max_size=5)) + text[i:]
    else:
        text = text[:i] + text[i:] + text[i:]
    if inner:
        text = prefix + base64.b64encode(text.encode("utf-8", "surrogatepass")).decode()
    return text, secrets


@settings(max_examples=300)
@given(mutated())
def test_mutated_keys(case: tuple[str, list[str]]) -> None:
    inp, secrets = case
    _decode_or_invalid(inp, secrets)
