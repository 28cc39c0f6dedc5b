"""Several AWS accounts (`REVOKER_ACCOUNTS`), driven the way Slack drives the app.

Two accounts are configured, "prod" (with an external id) and "staging", each reached by
assuming its `BedrockKeyRevoker` role. moto 5.2 keeps state per account id: AssumeRole into
`arn:aws:iam::<other>:role/...` hands out credentials whose calls act in <other> (the role need
not exist there, but it is created anyway, as an operator would), and STS records each assumed
session in the target account's backend. Each account is arranged with an IAM client built from
such credentials, never through moto's internals.

What IAM saw is read back as CloudTrail would show it: `trail` records, on moto's server side,
every IAM call's action, the account it acted in and the access key that signed it; the access
key leads to the STS session it was issued to, and so to the session name.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import ACCOUNT_ID, boto_session, create_long_term_key
from slack_flow import click, open_modal, request_message, submit, wait_final

from bot.sandbox import iam as iam_sandbox
from bot.sandbox.harness import APPROVER, CHANNEL, REQUESTER, Sandbox
from bot.sandbox.harness import sandbox as app_sandbox
from bot.sandbox.slack_api import Message, View
from bot.sandbox.slack_driver import plain_text_input, static_select
from bot.views import ids

PROD_ID = "111122223333"
STAGING_ID = "444455556666"
ROLE_NAME = "BedrockKeyRevoker"
EXTERNAL_ID = "ext-5f1c9e0a7d3b4b21"
PROD_ROLE = f"arn:aws:iam::{PROD_ID}:role/{ROLE_NAME}"
STAGING_ROLE = f"arn:aws:iam::{STAGING_ID}:role/{ROLE_NAME}"
ACCOUNTS: dict[str, dict[str, str]] = {
    "prod": {"account_id": PROD_ID, "role_arn": PROD_ROLE, "external_id": EXTERNAL_ID},
    "staging": {"account_id": STAGING_ID, "role_arn": STAGING_ROLE},
}
SETUP_SESSION = "test-setup"
TRUST_POLICY = Path(__file__).parents[2] / "deploy" / "target-account-role.json"


# --------------------------------------------------------------------------------------------
# AWS: two target accounts on moto, and a server-side record of who made each IAM call


def account_iam(account_id: str) -> Any:
    """An IAM client acting in `account_id`: credentials from AssumeRole into that account."""
    sts = boto_session().client("sts")
    creds = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole",
        RoleSessionName=SETUP_SESSION,
    )["Credentials"]
    iam = boto_session().client(
        "iam",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    assert (
        boto_session()
        .client(
            "sts",
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )
        .get_caller_identity()["Account"]
        == account_id
    )
    return iam


def create_target_role(iam: Any, external_id: str | None) -> None:
    """The role the bot assumes, with the trust policy from deploy/ (moto does not enforce it)."""
    trust = json.loads(TRUST_POLICY.read_text())
    statement = trust["Statement"][0]
    statement["Principal"]["AWS"] = f"arn:aws:iam::{ACCOUNT_ID}:root"
    if external_id is None:
        del statement["Condition"]
    else:
        statement["Condition"]["StringEquals"]["sts:ExternalId"] = external_id
    iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust))


@dataclass(frozen=True)
class Session:
    """An STS session moto issued: in which account, for which role, under which name."""

    account_id: str
    role_arn: str
    name: str
    external_id: str | None
    access_key_id: str


def sessions(account_id: str) -> list[Session]:
    """Every AssumeRole session into `account_id`, as moto's STS recorded it."""
    from moto.sts.models import sts_backends

    return [
        Session(account_id, r.role_arn, r.session_name, r.external_id, r.access_key_id)
        for r in sts_backends[account_id]["aws"].assumed_roles
    ]


def bot_sessions(account_id: str) -> list[Session]:
    return [s for s in sessions(account_id) if s.name != SETUP_SESSION]


@dataclass(frozen=True)
class Call:
    """One IAM call as moto's server received it."""

    action: str
    account_id: str
    access_key_id: str
    params: dict[str, str]


class Trail:
    """IAM calls as CloudTrail would list them: action, account, and the signing session."""

    def __init__(self) -> None:
        self.calls: list[Call] = []

    def by_bot(self) -> list[Call]:
        """The bot's calls: everything but the test's own arranging and reading back."""
        return [c for c in self.calls if getattr(self.session_of(c), "name", "") != SETUP_SESSION]

    def session_of(self, call: Call) -> Session | None:
        return next(
            (s for s in sessions(call.account_id) if s.access_key_id == call.access_key_id), None
        )


@pytest.fixture
def trail(aws_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Trail]:
    from moto.iam.responses import IamResponse

    record = Trail()
    original: Callable[[Any], Any] = IamResponse.call_action

    def call_action(self: Any) -> Any:
        params = {k: str(v) for k, v in self.querystring.items() if k != "Action"}
        record.calls.append(Call(self._get_action(), self.current_account, self.access_key, params))
        return original(self)

    monkeypatch.setattr(IamResponse, "call_action", call_action)
    yield record


@dataclass(frozen=True)
class Accounts:
    prod: Any  # IAM clients acting in each account
    staging: Any


@pytest.fixture
def accounts(aws_server: str) -> Accounts:
    prod, staging = account_iam(PROD_ID), account_iam(STAGING_ID)
    create_target_role(prod, EXTERNAL_ID)
    create_target_role(staging, None)
    return Accounts(prod=prod, staging=staging)


@pytest.fixture
async def box(aws_server: str, tmp_path: Path) -> AsyncIterator[Sandbox]:
    """The app with both accounts configured (REVOKER_ACCOUNTS)."""
    async with app_sandbox(database_dir=tmp_path, accounts=ACCOUNTS) as sb:
        yield sb


# --------------------------------------------------------------------------------------------
# helpers


def _block(view: View, block_id: str) -> dict[str, Any] | None:
    return next((b for b in view.blocks if b.get("block_id") == block_id), None)


def _choose(account: str) -> dict[str, dict[str, Any]]:
    return {ids.ACCOUNT_BLOCK: {ids.ACCOUNT_ACTION: static_select(account)}}


def _statuses(iam: Any, user: str) -> list[str]:
    listed = iam.list_service_specific_credentials(UserName=user)["ServiceSpecificCredentials"]
    return [c["Status"] for c in listed]


def _own_account_untouched() -> None:
    """The bot's own account (moto's default) holds nothing: every call went to a target."""
    assert boto_session().client("iam").list_users()["Users"] == []


def _nothing_posted(sb: Sandbox) -> None:
    assert sb.api.calls("chat.postMessage") == []
    assert sb.api.calls("chat.update") == []
    assert sb.api.messages(CHANNEL) == []


async def _refusal(sb: Sandbox) -> str:
    (reply,) = await sb.api.wait_for(
        lambda: sb.api.ephemerals(user=REQUESTER), what="private reply to the requester"
    )
    assert reply.channel == CHANNEL and reply.via == "chat.postEphemeral"
    assert sb.api.ephemerals(user=APPROVER) == []
    return reply.text


async def _approve(sb: Sandbox, message: Message) -> Message:
    await click(sb, APPROVER, message, ids.APPROVE_ACTION)
    final = await wait_final(sb, message)
    assert ": completed." in final.text.lower(), final.text
    return final


def _everything(sb: Sandbox, message: Message) -> str:
    """The request message and its thread, as one text (blocks included)."""
    shown = sb.api.message(CHANNEL, message.ts)
    assert shown is not None
    parts = [shown.text, json.dumps(shown.blocks)]
    for reply in sb.api.thread(CHANNEL, message.ts):
        parts += [reply.text, json.dumps(reply.blocks)]
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------
# the modal


async def test_modal_offers_every_configured_account(box: Sandbox) -> None:
    view = await open_modal(box)

    block = _block(view, ids.ACCOUNT_BLOCK)
    assert block is not None, [b.get("block_id") for b in view.blocks]
    assert not block.get("optional")
    element = block["element"]
    assert element["type"] == "static_select"
    assert [o["value"] for o in element["options"]] == ["prod", "staging"]
    assert [o["text"]["text"] for o in element["options"]] == ["prod", "staging"]
    assert "initial_option" not in element  # no key pasted: nothing to go by
    assert "a" not in json.loads(view.private_metadata)  # nothing chosen for the requester


async def test_modal_has_no_account_select_with_one_account(
    aws_server: str, tmp_path: Path
) -> None:
    async with app_sandbox(database_dir=tmp_path, accounts={"prod": ACCOUNTS["prod"]}) as sb:
        view = await open_modal(sb)

    assert _block(view, ids.ACCOUNT_BLOCK) is None
    # The only account travels with the form instead.
    assert json.loads(view.private_metadata)["a"] == "prod"


async def test_leaving_the_account_empty_is_a_field_error(box: Sandbox, trail: Trail) -> None:
    view = await open_modal(box)

    response = await box.driver.view_submission(
        REQUESTER,
        view_id=view.id,
        values={
            ids.IDENTIFIER_BLOCK: {ids.IDENTIFIER_ACTION: plain_text_input("ci-bot")},
            ids.REASON_BLOCK: {ids.REASON_ACTION: plain_text_input("INC-4242")},
        },
        enforce_required=False,  # Slack's client would not send it; the app must still refuse
    )

    body = response.json()
    assert body["response_action"] == "errors"
    assert body["errors"][ids.ACCOUNT_BLOCK] == "Choose one of the configured accounts."
    assert trail.calls == []
    _nothing_posted(box)


# --------------------------------------------------------------------------------------------
# a pasted key picks its account


async def test_key_of_a_staging_user_is_revoked_in_staging_only(
    box: Sandbox, accounts: Accounts, trail: Trail
) -> None:
    key = create_long_term_key(accounts.staging, "ci-bot")
    twin = create_long_term_key(accounts.prod, "ci-bot")  # same user name, other account
    assert key.alias.endswith(f"-at-{STAGING_ID}")

    view = await open_modal(box, text=key.key)
    # The key was decoded when the modal opened: its alias names the staging account, and the
    # select starts on the configured account with that id.
    assert STAGING_ID in json.dumps(view.blocks)
    block = _block(view, ids.ACCOUNT_BLOCK)
    assert block is not None
    assert (block["element"].get("initial_option") or {}).get("value") == "staging"

    response = await submit(box, view, actions=("deactivate",))
    assert response.status == 200 and response.text == "", response.text
    message = await request_message(box)
    (req,) = await box.services.requests.list_recent()

    assert req.plan.target.account == "staging" and req.plan.target.account_id == STAGING_ID
    said = json.dumps(message.blocks)
    assert "`staging` (`444455556666`)" in said
    plan = box.api.thread(CHANNEL, message.ts)[0]
    assert "in `staging` (`444455556666`)" in json.dumps(plan.blocks)
    assert _statuses(accounts.staging, "ci-bot") == ["Active"]  # nothing before approval

    await _approve(box, message)
    calls = trail.by_bot()  # before the test's own reads below

    assert _statuses(accounts.staging, "ci-bot") == ["Inactive"]
    assert _statuses(accounts.prod, "ci-bot") == ["Active"]
    assert (
        accounts.prod.list_service_specific_credentials(UserName="ci-bot")[
            "ServiceSpecificCredentials"
        ][0]["ServiceSpecificCredentialId"]
        == twin.credential_id
    )
    _own_account_untouched()

    # As CloudTrail would show it: every IAM call the bot made for the request (the reads at
    # submission, the write, the verification) went to staging, signed by one session of the
    # staging role (assumed without an external id, none being configured for it) named after
    # the request.
    assert calls and {c.account_id for c in calls} == {STAGING_ID}
    (write,) = [c for c in calls if c.action == "UpdateServiceSpecificCredential"]
    assert write.params["ServiceSpecificCredentialId"] == f"['{key.credential_id}']"
    signer = trail.session_of(write)
    assert signer is not None and signer.name == f"bedrock-revoker-{req.id}"
    assert signer.role_arn == STAGING_ROLE and signer.external_id is None
    assert [trail.session_of(c) for c in calls] == [signer] * len(calls)
    assert bot_sessions(STAGING_ID) == [signer]  # one AssumeRole for the whole request
    assert bot_sessions(PROD_ID) == []  # not even an AssumeRole into prod
    # The bot's credentials for the request, asked who they are, name the request's session.
    me = box.services.revoker.clients.sts("staging", request_id=req.id).get_caller_identity()
    assert me["Arn"] == (
        f"arn:aws:sts::{STAGING_ID}:assumed-role/{ROLE_NAME}/bedrock-revoker-{req.id}"
    )


async def test_choosing_an_account_the_key_contradicts_is_refused_privately(
    box: Sandbox, accounts: Accounts, trail: Trail
) -> None:
    key = create_long_term_key(accounts.staging, "ci-bot")
    view = await open_modal(box)

    response = await submit(
        box, view, identifier=key.key, actions=("deactivate",), extra=_choose("prod")
    )

    assert response.status == 200 and response.text == ""  # the modal closes
    text = await _refusal(box)
    assert f"That belongs to AWS account {STAGING_ID}, but account 'prod' is {PROD_ID}." in text
    assert key.key not in text
    _nothing_posted(box)
    assert await box.services.requests.list_recent() == []
    # Refused before any AWS call: no role assumed anywhere, no IAM read.
    assert bot_sessions(PROD_ID) == [] and bot_sessions(STAGING_ID) == []
    assert trail.by_bot() == []
    assert _statuses(accounts.staging, "ci-bot") == ["Active"]


# --------------------------------------------------------------------------------------------
# a user name is looked up in the chosen account only


async def test_user_name_resolves_in_the_chosen_account_only(
    box: Sandbox, accounts: Accounts, trail: Trail
) -> None:
    in_prod = create_long_term_key(accounts.prod, "ci-bot")
    create_long_term_key(accounts.staging, "ci-bot")
    view = await open_modal(box)

    response = await submit(
        box, view, identifier="ci-bot", actions=("deactivate",), extra=_choose("prod")
    )
    assert response.status == 200 and response.text == "", response.text
    message = await request_message(box)
    (req,) = await box.services.requests.list_recent()
    assert req.plan.target.account == "prod" and req.plan.target.account_id == PROD_ID
    assert req.plan.target.credential is not None
    assert req.plan.target.credential.credential_id == in_prod.credential_id
    assert "`prod` (`111122223333`)" in json.dumps(message.blocks)

    await _approve(box, message)
    calls = trail.by_bot()  # before the test's own reads below

    assert _statuses(accounts.prod, "ci-bot") == ["Inactive"]
    assert _statuses(accounts.staging, "ci-bot") == ["Active"]
    _own_account_untouched()
    assert STAGING_ID not in _everything(box, message)
    # Every IAM call went to prod, in sessions of the prod role assumed with its external id.
    assert calls and {c.account_id for c in calls} == {PROD_ID}
    (session,) = bot_sessions(PROD_ID)
    assert session.name == f"bedrock-revoker-{req.id}"
    assert session.role_arn == PROD_ROLE and session.external_id == EXTERNAL_ID
    assert [trail.session_of(c) for c in calls] == [session] * len(calls)
    assert bot_sessions(STAGING_ID) == []


# --------------------------------------------------------------------------------------------
# the role cannot be assumed


async def test_assume_role_refused_is_explained_privately(
    box: Sandbox, accounts: Accounts, trail: Trail
) -> None:
    create_long_term_key(accounts.prod, "ci-bot")
    fault = iam_sandbox.inject_error("AssumeRole", code="AccessDenied")
    view = await open_modal(box)

    response = await submit(
        box, view, identifier="ci-bot", actions=("deactivate",), extra=_choose("prod")
    )

    assert response.status == 200 and response.text == ""
    text = await _refusal(box)
    assert fault.hits == 1
    # In plain words: which account, which role, what to check; not a Python error.
    assert "prod" in text and PROD_ROLE in text, text
    assert "sts:AssumeRole" in text, text
    assert "GetCallerIdentity" not in text, text
    assert "Traceback" not in text and "ClientError" not in text
    assert EXTERNAL_ID not in text
    _nothing_posted(box)
    assert await box.services.requests.list_recent() == []
    assert trail.by_bot() == []  # no IAM call without the role
    assert _statuses(accounts.prod, "ci-bot") == ["Active"]
