from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import policies
from bot.config import DEFAULT_DENY_ACTIONS
from bot.errors import InvalidInput

# The two documents exactly as AWS publishes them (reference/bedrock-api-keys.md).
AWS_DENY = {
    "Version": "2012-10-17",
    "Statement": {"Effect": "Deny", "Action": "bedrock:CallWithBearerToken", "Resource": "*"},
}
AWS_REVOKE = {
    "Version": "2012-10-17",
    "Statement": {
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {"DateLessThan": {"aws:TokenIssueTime": "2014-05-07T23:47:00Z"}},
    },
}
NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


def test_policy_names() -> None:
    assert policies.DENY_POLICY_NAME == "BedrockKeyRevokerDenyBearerToken"
    assert policies.REVOKE_SESSIONS_POLICY_NAME == "AWSRevokeOlderSessions"
    assert policies.USER_INLINE_POLICY_QUOTA == 2048
    assert policies.ROLE_INLINE_POLICY_QUOTA == 10240


def test_deny_bearer_token_default_denies_both_endpoints() -> None:
    doc = policies.deny_bearer_token()
    assert doc == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyBedrockApiKeys",
                "Effect": "Deny",
                "Action": ["bedrock:CallWithBearerToken", "bedrock-mantle:CallWithBearerToken"],
                "Resource": "*",
            }
        ],
    }
    assert tuple(doc["Statement"][0]["Action"]) == DEFAULT_DENY_ACTIONS


def test_deny_bearer_token_single_action_means_what_aws_documents() -> None:
    doc = policies.deny_bearer_token(["bedrock:CallWithBearerToken"])
    assert policies.same_policy(doc, AWS_DENY)
    # the default denies more than the documented policy, so it is a different document
    assert not policies.same_policy(policies.deny_bearer_token(), AWS_DENY)


def test_deny_bearer_token_deduplicates_and_keeps_order() -> None:
    doc = policies.deny_bearer_token(
        [
            "bedrock-mantle:CallWithBearerToken",
            " bedrock:CallWithBearerToken ",
            "bedrock-mantle:CallWithBearerToken",
        ]
    )
    assert doc["Statement"][0]["Action"] == [
        "bedrock-mantle:CallWithBearerToken",
        "bedrock:CallWithBearerToken",
    ]


@pytest.mark.parametrize(
    "actions",
    [
        [],
        ["bedrock:InvokeModel"],
        ["*"],
        ["bedrock:*"],
        ["CallWithBearerToken"],
        [":CallWithBearerToken"],
        ["bedrock:CallWithBearerToken", "s3:GetObject"],
        ["Bedrock Runtime:CallWithBearerToken"],
        ["   "],
    ],
)
def test_deny_bearer_token_refuses_other_actions(actions: list[str]) -> None:
    with pytest.raises(InvalidInput) as err:
        policies.deny_bearer_token(actions)
    assert err.value.field == "actions"


def test_deny_bearer_token_bare_string_is_one_action_not_characters() -> None:
    doc = policies.deny_bearer_token("bedrock:CallWithBearerToken")
    assert doc["Statement"][0]["Action"] == ["bedrock:CallWithBearerToken"]


def test_revoke_older_sessions_document() -> None:
    doc = policies.revoke_older_sessions(datetime(2014, 5, 7, 23, 47, tzinfo=UTC), now=NOW)
    assert doc == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {"DateLessThan": {"aws:TokenIssueTime": "2014-05-07T23:47:00Z"}},
            }
        ],
    }
    assert policies.same_policy(doc, AWS_REVOKE)


def test_revoke_older_sessions_converts_to_utc() -> None:
    before = datetime(2025, 6, 1, 13, 30, 15, tzinfo=timezone(timedelta(hours=2)))
    doc = policies.revoke_older_sessions(before, now=NOW)
    cond = doc["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
    assert cond == "2025-06-01T11:30:15Z"


def test_revoke_older_sessions_rounds_up_to_cover_the_same_second() -> None:
    before = datetime(2025, 6, 1, 11, 59, 59, 1, tzinfo=UTC)
    doc = policies.revoke_older_sessions(before, now=NOW)
    assert policies.session_revocation_time(doc) == datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


def test_revoke_older_sessions_refuses_naive_time() -> None:
    with pytest.raises(InvalidInput) as err:
        policies.revoke_older_sessions(datetime(2025, 6, 1, 12, 0), now=NOW)
    assert err.value.field == "before"


def test_revoke_older_sessions_allows_small_skew_but_not_the_future() -> None:
    policies.revoke_older_sessions(NOW + timedelta(minutes=5), now=NOW)
    with pytest.raises(InvalidInput) as err:
        policies.revoke_older_sessions(NOW + timedelta(minutes=5, seconds=1), now=NOW)
    assert err.value.field == "before"
    assert "future" in err.value.message


def test_revoke_older_sessions_default_now_is_the_clock() -> None:
    policies.revoke_older_sessions(datetime.now(UTC))
    with pytest.raises(InvalidInput):
        policies.revoke_older_sessions(datetime.now(UTC) + timedelta(hours=1))


def test_session_revocation_time_reads_dict_json_and_url_encoded() -> None:
    expected = datetime(2014, 5, 7, 23, 47, tzinfo=UTC)
    text = json.dumps(AWS_REVOKE)
    assert policies.session_revocation_time(AWS_REVOKE) == expected
    assert policies.session_revocation_time(text) == expected
    assert policies.session_revocation_time(quote(text)) == expected
    assert policies.session_revocation_time(quote(text, safe="").replace("%20", "+")) == expected


def test_session_revocation_time_tolerates_spelling_variants() -> None:
    doc = {
        "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {
                "Effect": "Deny",
                "Action": ["*"],
                "Resource": ["*"],
                "Condition": {
                    "DateLessThan": {
                        "AWS:TokenIssueTime": ["2024-01-01T00:00:00Z", "2024-02-01T10:00:00+02:00"]
                    }
                },
            },
        ]
    }
    assert policies.session_revocation_time(doc) == datetime(2024, 2, 1, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    "doc",
    [
        policies.deny_bearer_token(),
        {},
        {"Statement": "nonsense"},
        {
            "Statement": [
                {"Effect": "Deny", "Condition": {"DateLessThan": {"aws:TokenIssueTime": 5}}}
            ]
        },
        {
            "Statement": [
                {"Effect": "Deny", "Condition": {"DateLessThan": {"aws:TokenIssueTime": "x"}}}
            ]
        },
        {"Statement": [{"Effect": "Allow", "Condition": AWS_REVOKE["Statement"]["Condition"]}]},  # type: ignore[index]
        "not json",
        "[1, 2]",
        "%7Bbroken",
    ],
)
def test_session_revocation_time_none_when_absent_or_unreadable(doc: object) -> None:
    assert policies.session_revocation_time(doc) is None  # type: ignore[arg-type]


def test_same_policy_ignores_spelling() -> None:
    a = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "X",
                "Effect": "Deny",
                "Action": ["bedrock-mantle:CallWithBearerToken", "bedrock:CallWithBearerToken"],
                "Resource": ["*"],
            }
        ],
    }
    b = json.dumps(policies.deny_bearer_token())
    assert policies.same_policy(a, b)
    assert policies.same_policy(a, quote(b))
    lower = {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Deny",
            "Action": ["BEDROCK:callwithbearertoken", "bedrock-mantle:CallWithBearerToken"],
            "Resource": "*",
        },
    }
    assert policies.same_policy(a, lower)


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s.update(Effect="Allow"),
        lambda s: s.update(Resource="arn:aws:bedrock:*:*:*"),
        lambda s: s.update(Action=["bedrock:CallWithBearerToken"]),
        lambda s: s.update(Condition={"Bool": {"aws:SecureTransport": "false"}}),
    ],
)
def test_same_policy_sees_real_differences(change: object) -> None:
    base = policies.deny_bearer_token()
    other = policies.deny_bearer_token()
    change(other["Statement"][0])  # type: ignore[operator]
    assert not policies.same_policy(base, other)


def test_same_policy_version_and_condition_value_matter() -> None:
    a = policies.revoke_older_sessions(datetime(2024, 1, 1, tzinfo=UTC), now=NOW)
    b = policies.revoke_older_sessions(datetime(2024, 1, 2, tzinfo=UTC), now=NOW)
    assert not policies.same_policy(a, b)
    assert not policies.same_policy(a, {**a, "Version": "2008-10-17"})
    assert not policies.same_policy(a, "not json")


def test_policy_size_ignores_whitespace() -> None:
    doc = policies.deny_bearer_token()
    compact = policies.to_compact_json(doc)
    assert " " not in compact and "\n" not in compact
    assert policies.policy_size(doc) == len(compact)
    assert policies.policy_size(policies.to_json(doc)) == len(compact)
    spaced = {"Version": "2012-10-17", "Statement": {"Sid": "a b", "Effect": "Deny"}}
    assert policies.policy_size(spaced) == len(policies.to_compact_json(spaced)) - 1


def test_both_documents_fit_the_user_quota_with_room() -> None:
    assert policies.policy_size(policies.deny_bearer_token()) < 200
    revoke = policies.revoke_older_sessions(NOW, now=NOW)
    assert policies.policy_size(revoke) < 200


def test_to_json_round_trips_and_is_pretty() -> None:
    doc = policies.deny_bearer_token()
    text = policies.to_json(doc)
    assert json.loads(text) == doc
    assert text.startswith('{\n  "Version": "2012-10-17",\n  "Statement": [')
    assert json.loads(policies.to_compact_json(text)) == doc


def test_parse_refuses_non_objects() -> None:
    for bad in ("[]", "", "null", 42):
        with pytest.raises(InvalidInput):
            policies.parse(bad)  # type: ignore[arg-type]


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2030, 1, 1),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=-7)), timezone(timedelta(hours=5, minutes=30))]
        ),
    )
)
def test_revocation_time_round_trip(before: datetime) -> None:
    doc = policies.revoke_older_sessions(before, now=datetime(2031, 1, 1, tzinfo=UTC))
    got = policies.session_revocation_time(policies.to_json(doc))
    assert got is not None
    # never earlier than asked (that would miss the leaked session), at most a second later
    assert timedelta(0) <= got - before < timedelta(seconds=1)
    assert policies.same_policy(doc, quote(policies.to_compact_json(doc)))


@given(
    st.text()
    | st.recursive(
        st.none() | st.text() | st.integers(), lambda c: st.lists(c) | st.dictionaries(st.text(), c)
    )
)
def test_readers_never_crash(doc: object) -> None:
    if isinstance(doc, dict | str):
        policies.session_revocation_time(doc)
        policies.same_policy(doc, policies.deny_bearer_token())
