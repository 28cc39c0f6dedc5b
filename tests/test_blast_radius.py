"""The blast-radius report: what the key did (CloudTrail) and what its principal holds (IAM),
read-only, through real boto3 calls against moto and the sandbox's CloudTrail."""

from __future__ import annotations

from typing import Any

from conftest import (
    boto_session,
    create_long_term_key,
    create_role,
    short_term_key_from_role,
    use_key,
)

from bot.revocation.service import Revoker
from bot.sandbox import iam as sandbox


async def test_a_short_term_keys_use_and_its_roles_session(iam: Any, revoker: Revoker) -> None:
    role = create_role(iam, "ci-runner")
    key = short_term_key_from_role(role["Arn"])
    use_key(key, source_ip="203.0.113.7", user_agent="leaked/1.0")
    use_key(key, source_ip="198.51.100.9", model_id="amazon.nova-pro-v1:0")
    target = await revoker.resolve(key)
    report = await revoker.blast_radius(target)

    use = report.key_use
    assert use is not None and use.calls == 2 and use.complete and not use.problems
    assert use.first_seen is not None and use.last_seen is not None
    assert use.first_seen <= use.last_seen
    assert {ip.split(" ")[0] for ip in use.source_ips} == {"203.0.113.7", "198.51.100.9"}
    assert any("leaked/1.0" in agent for agent in use.user_agents)
    assert any(m.startswith("amazon.nova-pro-v1:0") for m in use.models)
    assert use.regions == ("us-east-1 (2)",)
    assert "us-east-1" in use.source and key not in report.model_dump_json()
    held = report.holdings
    assert held is not None and held.principal == "role ci-runner"
    assert held.recent_writes == ()  # searched, none found (not unknown)


async def test_a_long_term_keys_user_holdings_and_persistence(iam: Any, revoker: Revoker) -> None:
    leaked = create_long_term_key(iam, "BedrockAPIKey-ab12")
    other = create_long_term_key(iam, "BedrockAPIKey-ab12")
    iam.create_login_profile(UserName="BedrockAPIKey-ab12", Password="Correct-Horse-9!")
    ak = iam.create_access_key(UserName="BedrockAPIKey-ab12")["AccessKey"]
    # The attacker uses the key, then the user's access key to make a persistence foothold.
    use_key(leaked.key, source_ip="203.0.113.7")
    as_user = boto_session().client(
        "iam", aws_access_key_id=ak["AccessKeyId"], aws_secret_access_key=ak["SecretAccessKey"]
    )
    as_user.create_user(UserName="backup-admin")
    as_user.create_access_key(UserName="backup-admin")

    target = await revoker.resolve(leaked.key)
    report = await revoker.blast_radius(target)
    use = report.key_use
    assert use is not None and use.calls == 1 and use.source_ips == ("203.0.113.7 (1)",)
    held = report.holdings
    assert held is not None and held.principal == "IAM user BedrockAPIKey-ab12"
    assert held.console_password is True
    assert held.access_keys is not None
    (fact,) = held.access_keys
    assert fact.access_key_id == ak["AccessKeyId"] and fact.status == "Active"
    assert held.other_credentials is not None
    assert [c.split(" ")[0] for c in held.other_credentials] == [other.credential_id]
    assert held.recent_writes is not None
    assert sorted(c.event_name for c in held.recent_writes) == ["CreateAccessKey", "CreateUser"]
    assert not held.problems


async def test_missing_permissions_are_reported_not_taken_for_nothing(
    iam: Any, revoker: Revoker
) -> None:
    leaked = create_long_term_key(iam, "alice")
    target = await revoker.resolve(leaked.key)
    sandbox.inject_error("LookupEvents", "AccessDeniedException", service="cloudtrail", times=None)
    sandbox.inject_error("GetLoginProfile", "AccessDenied", times=None)
    report = await revoker.blast_radius(target)
    use = report.key_use
    assert use is not None and use.calls == 0
    assert use.problems and "not permitted" in use.problems[0] and "not none" in use.problems[0]
    held = report.holdings
    assert held is not None
    assert held.console_password is None and held.recent_writes is None
    assert any(p.startswith("console password: not permitted") for p in held.problems)
    assert any(p.startswith("recent writes: not permitted") for p in held.problems)


def test_investigate_prints_the_report_as_json_reading_the_key_from_stdin(
    iam: Any, monkeypatch: Any, capsys: Any, tmp_path: Any
) -> None:
    import io
    import json
    import os
    import sys

    from bot import cli

    for name in list(os.environ):
        if name.startswith(("REVOKER_", "SLACK_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    leaked = create_long_term_key(iam, "alice")
    use_key(leaked.key, source_ip="203.0.113.7")
    monkeypatch.setattr(sys, "stdin", io.StringIO(leaked.key + "\n"))
    assert cli.main(["investigate"]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["user_name"] == "alice" and report["key"]["alias"] == leaked.alias
    assert report["blast_radius"]["key_use"]["calls"] == 1
    assert report["blast_radius"]["holdings"]["principal"] == "IAM user alice"
    assert leaked.key not in out + err
