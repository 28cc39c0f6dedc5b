"""reset: the new secret never reaches a result, a repr, a log line or an exception."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from conftest import create_long_term_key, make_settings, new_clients

from bot.revocation.model import StepOutcome
from bot.revocation.service import Revoker


class SecretCatcher:
    """Reads IAM's reset answer as boto3 parsed it (observation), so the test knows the secret."""

    def __init__(self, revoker: Revoker) -> None:
        self.secrets: list[str] = []
        revoker.clients.iam().meta.events.register(
            "after-call.iam.ResetServiceSpecificCredential", self._seen
        )

    def _seen(self, parsed: Any, **_: Any) -> None:
        cred = parsed.get("ServiceSpecificCredential", {})
        self.secrets.append(cred["ServiceCredentialSecret"])


def everything_said(report: Any, caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(
        [
            repr(report),
            str(report),
            report.model_dump_json(),
            repr(report.results),
            caplog.text,
            "\n".join(str(r.msg) + repr(r.args) for r in caplog.records),
        ]
    )


async def test_discarded_secret_is_nowhere(
    iam: Any, revoker: Revoker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # botocore dumps bodies at DEBUG: the worst case
    key = create_long_term_key(iam, "alice")
    catcher = SecretCatcher(revoker)
    plan = revoker.plan(await revoker.resolve(key.key), ["reset"])
    report = await revoker.run(plan)
    (secret,) = catcher.secrets
    assert len(secret) > 20
    (result,) = report.results
    assert result.outcome is StepOutcome.OK
    assert result.message.endswith("the new secret was discarded; nobody has it.")
    assert result.secret_arn is None
    said = everything_said(report, caplog)
    assert secret not in said
    # botocore did try to log the response body; the filter withheld it.
    assert "message withheld, it carried a secret" in caplog.text


async def test_secret_stored_in_secrets_manager_shows_only_its_arn(
    iam: Any, moto_aws: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = make_settings(reset_secret_destination="secretsmanager")
    clients = new_clients(settings)
    revoker = Revoker(settings, clients, settle_delays=())
    key = create_long_term_key(iam, "alice")
    catcher = SecretCatcher(revoker)
    plan = revoker.plan(await revoker.resolve(key.key), ["reset"])
    assert plan.reset_secret_destination == "secretsmanager"
    report = await revoker.run(plan)
    (result,) = report.results
    assert result.outcome is StepOutcome.OK
    assert result.secret_arn and result.secret_arn.startswith("arn:aws:secretsmanager:")
    assert f"bedrock-key-revoker/alice/{key.credential_id}" in result.secret_arn
    assert result.message.endswith(result.secret_arn)
    sm = clients.secretsmanager()
    assert sm.get_secret_value(SecretId=result.secret_arn)["SecretString"] == catcher.secrets[0]
    # A later reset (new plan) puts a new version under the same name.
    again = await revoker.run(revoker.plan(await revoker.resolve(key.key), ["reset"]))
    assert again.results[0].secret_arn == result.secret_arn
    assert sm.get_secret_value(SecretId=result.secret_arn)["SecretString"] == catcher.secrets[1]
    said = everything_said(report, caplog) + everything_said(again, caplog)
    for secret in catcher.secrets:
        assert secret not in said


async def test_failed_storage_is_an_error_that_still_leaks_nothing(
    iam: Any, moto_aws: None, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    # Secrets Manager unreachable (nothing listens on port 1); one attempt, so no backoff wait.
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    settings = make_settings(reset_secret_destination="secretsmanager")
    revoker = Revoker(settings, new_clients(settings), settle_delays=())
    key = create_long_term_key(iam, "alice")
    catcher = SecretCatcher(revoker)
    report = await revoker.run(revoker.plan(await revoker.resolve(key.key), ["reset"]))
    (result,) = report.results
    assert result.outcome is StepOutcome.ERROR
    assert result.error_code
    assert "was reset" in result.message
    assert "The new secret was discarded; nobody has it." in result.message
    assert result.secret_arn is None
    assert catcher.secrets and catcher.secrets[0] not in everything_said(report, caplog)


async def test_expired_key_cannot_be_reset_but_can_be_deleted(iam: Any, revoker: Revoker) -> None:
    from bot.errors import Refused
    from bot.sandbox import iam as sandbox

    key = create_long_term_key(iam, "alice")
    sandbox.expire_credential("123456789012", key.credential_id)
    target = await revoker.resolve(key.key)
    assert target.credential is not None and target.credential.status == "Expired"
    with pytest.raises(Refused) as e:
        revoker.plan(target, ["reset"])
    assert e.value.suggestion and "delete" in e.value.suggestion.lower()
    assert (await revoker.run(revoker.plan(target, ["delete"]))).status == "completed"


async def test_key_expiring_between_plan_and_approval_is_skipped(
    iam: Any, revoker: Revoker
) -> None:
    from bot.sandbox import iam as sandbox

    key = create_long_term_key(iam, "alice")
    plan = revoker.plan(await revoker.resolve(key.key), ["reset"])
    sandbox.expire_credential("123456789012", key.credential_id)
    (result,) = (await revoker.run(plan)).results
    assert result.outcome is StepOutcome.SKIPPED
    assert "expired" in result.message
