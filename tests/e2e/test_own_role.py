"""The bot never offers to revoke the roles it acts as: the role it really runs as (an ECS task
role, here an assumed-role session on moto) and the role it assumes in each account, even when
its home account is one of `REVOKER_ACCOUNTS` and the role it assumes there is another one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import ACCOUNT_ID, boto_session, create_role
from test_modal import _nothing_posted, _nothing_stored, _refusal, _send, _short_term_modal, _values

from bot.sandbox.harness import Sandbox
from bot.sandbox.harness import sandbox as app_sandbox

TASK_ROLE = "bedrock-revoker-task"  # what the bot runs as (no BedrockKeyRevoker* prefix)
ASSUMED_ROLE = "key-revoker-home"  # what it assumes in its home account, as configured


@pytest.fixture
async def sb_as_task_role(
    aws_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Sandbox]:
    iam = boto_session().client("iam")
    task = create_role(iam, TASK_ROLE)
    create_role(iam, ASSUMED_ROLE)
    creds = (
        boto_session()
        .client("sts")
        .assume_role(RoleArn=task["Arn"], RoleSessionName="ecs-task")["Credentials"]
    )
    # The app's base credentials are the task role's session, as on ECS.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", creds["SessionToken"])
    accounts = {
        "home": {
            "account_id": ACCOUNT_ID,
            "role_arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{ASSUMED_ROLE}",
        }
    }
    async with app_sandbox(database_dir=tmp_path, accounts=accounts) as box:
        yield box


@pytest.mark.parametrize("role", [TASK_ROLE, ASSUMED_ROLE])
@pytest.mark.parametrize("action", ["deny_role", "revoke_sessions"])
async def test_the_roles_the_bot_acts_as_are_refused_before_anyone_approves(
    sb_as_task_role: Sandbox, role: str, action: str
) -> None:
    sb = sb_as_task_role
    view = await _short_term_modal(sb)

    response = await _send(sb, view, _values(identifier=role, actions=(action,)))

    assert response.status == 200 and response.text == ""
    text = await _refusal(sb)
    assert f"Role {role} is the role this bot runs as" in text
    _nothing_posted(sb)
    await _nothing_stored(sb)


async def test_another_role_in_the_home_account_is_still_offered(sb_as_task_role: Sandbox) -> None:
    sb = sb_as_task_role
    create_role(boto_session().client("iam"), "ci-runner")
    view = await _short_term_modal(sb)

    response = await _send(sb, view, _values(identifier="ci-runner", actions=("deny_role",)))

    assert response.status == 200 and response.text == ""
    await sb.api.wait_for(lambda: sb.api.calls("chat.postMessage"), what="request message")
