"""A key inside free text is redacted however it was pasted, exactly when `decode` reads it.

The decoder accepts a key wrapped by a terminal or a chat client, spaced, or with base64's
"+/=" percent-encoded; redaction must find every one of those inside a reason or a note, or the
secret reaches the channel, the store and the hash-chained audit (which cannot be purged).
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_keys import long_term, secret_parts, windows

from bot import keys

LONG_KEY = long_term("BedrockAPIKey-x7q2-at-123456789012", "mN7pL4vR8sT1uW3yA5bC6dE0fG+h/J2k=")
# A real-shaped short-term key (a session token and a signature), made offline.
SHORT_KEY = (
    keys.SHORT_TERM_PREFIX
    + __import__("base64")
    .b64encode(
        (
            "bedrock.amazonaws.com/?Action=CallWithBearerToken&X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=ASIAQ3EGUOQLVGOOYQTB%2F20250301%2Fus-east-1%2Fbedrock%2Faws4_request"
            "&X-Amz-Date=20250301T120000Z&X-Amz-Expires=43200"
            "&X-Amz-Security-Token=IQoJb3JpZ2luX2VjEJr%2F%2F%2F%2F%2F%2FwEaCXVzLWVhc3QtMSJHMEUCIQD"
            "a9s8d7f6g5h4j3k2l1zxcvbnmQWERTYUIOPasdfghjkl1234567890abcdefghijklmnopqrstuv%2Bwxyz%3D"
            "&X-Amz-SignedHeaders=host"
            "&X-Amz-Signature=" + "3f" * 32 + "&Version=1"
        ).encode()
    )
    .decode()
)
KEYS = {"long_term": LONG_KEY, "short_term": SHORT_KEY}


def wrap(key: str, width: int, gap: str = "\n") -> str:
    return gap.join(key[i : i + width] for i in range(0, len(key), width))


def percent_encode(key: str) -> str:
    return key.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")


PASTES = {
    "whole": lambda k: k,
    "terminal-80": lambda k: wrap(k, 80),
    "chat-37-crlf": lambda k: wrap(k, 37, "\r\n"),
    "spaced-4": lambda k: wrap(k, 4, " "),
    "spaced-8-tabs": lambda k: wrap(k, 8, "\t"),
    "wrapped-after-prefix": lambda k: wrap(k, 4 if k.startswith("ABSK") else 16, "\n"),
    "wrapped-inside-prefix": lambda k: k[:2] + "\n" + k[2:],
    "percent-encoded": percent_encode,
    "percent-encoded-lowercase": lambda k: percent_encode(k).replace("%2F", "%2f"),
    "percent-encoded-and-wrapped": lambda k: wrap(percent_encode(k), 50),
    "zero-width-spaces": lambda k: wrap(k, 20, "\u200b"),
}


def secret_windows(key: str) -> list[str]:
    """Every 12-character stretch of the parts of `key` that let someone use it."""
    return [w for part in secret_parts(key) for w in windows(part)]


def leaked(text: str, key: str) -> list[str]:
    """The secret stretches `text` still holds, read the way a reader could undo the paste."""
    readable = keys.normalize(text)
    return [w for w in secret_windows(key) if w in readable]


@pytest.mark.parametrize("kind", KEYS)
@pytest.mark.parametrize("paste", PASTES)
def test_decoder_and_redaction_agree_on_every_paste(kind: str, paste: str) -> None:
    key = KEYS[kind]
    pasted = PASTES[paste](key)
    # The decoder reads it as the same key...
    assert keys.decode(pasted) == keys.decode(key)
    # ...and redaction finds all of it inside a reason, with the thread's fingerprint.
    reason = f"INC-7: {pasted} was in a public gist, rotate now"
    out = keys.redact_secrets(reason)
    assert leaked(out, key) == []
    assert out.startswith("INC-7: [Bedrock API key ")
    assert f"[Bedrock API key {keys.fingerprint(key)}]" in out
    assert out.endswith(", rotate now")


@pytest.mark.parametrize("paste", PASTES)
def test_a_reason_that_lost_a_key_says_so(paste: str) -> None:
    out = keys.redact_free_text(f"found {PASTES[paste](LONG_KEY)} in a gist")
    assert out.endswith(keys.KEY_REMOVED_NOTE)
    assert leaked(out, LONG_KEY) == []
    # Redacting again changes nothing: the note is said once.
    assert keys.redact_free_text(out) == out


def test_text_without_a_key_is_left_as_typed() -> None:
    for text in (
        "keys start with ABSK or bedrock-api-key-",
        "ABSK is the prefix of long-term keys, see the runbook",
        "INC-42: AKIAIOSFODNN7EXAMPLE user alice, credential ACCA1234567890ABCDEFG",
        "100%2F100 done",
    ):
        assert keys.redact_secrets(text) == text
        assert keys.redact_free_text(text) == text


def test_a_truncated_wrapped_key_is_still_redacted() -> None:
    # It does not decode any more, but what is left of the secret is still a secret.
    truncated = wrap(LONG_KEY[:-9], 30)
    out = keys.redact_free_text(f"key: {truncated}")
    assert leaked(out, LONG_KEY) == []
    assert out.endswith(keys.KEY_REMOVED_NOTE)


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(sorted(KEYS)),
    seed=st.integers(0, 2**32),
    before=st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40),
    after=st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40),
)
def test_any_paste_the_decoder_accepts_is_redacted(
    kind: str, seed: int, before: str, after: str
) -> None:
    """Break the key at random places with random gaps and escapes, put it between random text:
    whenever the decoder reads the paste as the key, redaction leaves none of its secret."""
    key = KEYS[kind]
    rng = random.Random(seed)
    gaps = [" ", "\n", "\r\n", "\t", "\u200b", "\u00a0", "  \n"]
    pasted = []
    for c in key:
        if c in "+/=" and rng.random() < 0.5:
            c = {"+": "%2B", "/": "%2F", "=": "%3D"}[c]
        pasted.append(c)
        if rng.random() < 0.05:
            pasted.append(rng.choice(gaps))
    paste = "".join(pasted).strip()
    assert keys.decode(paste) == keys.decode(key)
    out = keys.redact_secrets(f"{before} {paste} {after}")
    assert leaked(out, key) == []
