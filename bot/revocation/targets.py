"""Resolution: from what a responder has to a Target checked against IAM.

Every input is validated against IAM's own patterns before any AWS call. The pasted key, if any,
is decoded locally and dropped; only what was decoded from it (DecodedKey) is kept. boto3 is
synchronous, so the whole resolution runs in one worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from bot import keys, policies, validation
from bot.aws import AwsClients
from bot.errors import InvalidInput, NotFound, Refused
from bot.revocation import signer
from bot.revocation.iam_errors import as_domain_error, assume_role_failure, error_code
from bot.revocation.iam_reads import (
    access_key_status,
    all_credentials,
    role_inline_policies,
    user_credentials,
    user_inline_policies,
    user_session_cutoff,
)
from bot.revocation.model import (
    Credential,
    DecodedKey,
    Evidence,
    Facts,
    IdentifierType,
    InlinePolicy,
    KeyKind,
    Role,
    Signer,
    SignerKind,
    Target,
)

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

# Real service-specific credential ids start with ACCA; a user name can match the bare id
# pattern, so only this shape is taken as an id without being told.
_LOOKS_LIKE_CREDENTIAL_ID = re.compile(r"ACCA[A-Z0-9]{16,124}")


@dataclass(frozen=True)
class Lookup:
    """A validated request to resolve: what we will look up, with no AWS call made yet."""

    id_type: IdentifierType
    kind: KeyKind
    account: str | None
    value: str | None = None  # user name, credential id, or role name (not for keys)
    key: DecodedKey | None = None
    role_name: str | None = None  # short-term: the role to act on
    role_account_id: str | None = None  # from a role ARN


def classify(identifier: str, *, kind: KeyKind | None = None) -> IdentifierType:
    """What the identifier most likely is, for a modal that has a single text field."""
    text = identifier.strip()
    if keys.looks_like_key(text):
        return IdentifierType.KEY
    if text.startswith("arn:"):
        return IdentifierType.ROLE
    if kind is KeyKind.SHORT_TERM:
        return IdentifierType.ROLE
    if _LOOKS_LIKE_CREDENTIAL_ID.fullmatch(text):
        return IdentifierType.CREDENTIAL_ID
    return IdentifierType.USER


def _role_name_and_account(value: str, field: str) -> tuple[str, str | None]:
    """A role name, a role ARN, or the assumed-role ARN CloudTrail shows for its sessions."""
    value = value.strip()
    if value.startswith("arn:"):
        match = validation.ROLE_ARN.fullmatch(value) or validation.ASSUMED_ROLE_ARN.fullmatch(value)
        if not match:
            raise InvalidInput(
                "That is not an IAM role ARN (arn:aws:iam::<12 digits>:role/<name>) nor an "
                "assumed-role ARN (arn:aws:sts::<12 digits>:assumed-role/<name>/<session>).",
                field=field,
            )
        return match["name"], match["account"]
    return validation.role_name(value, field), None


def prepare(
    clients: AwsClients,
    identifier: str | DecodedKey,
    *,
    kind: KeyKind | None = None,
    id_type: IdentifierType | None = None,
    role: str | None = None,
    account: str | None = None,
    now: datetime | None = None,
) -> Lookup:
    """Validate everything that can be validated without AWS. Raises InvalidInput/InvalidKey.

    `identifier` may be a key already decoded: the modal keeps only the decoded form of a key
    pasted earlier, never the key itself.
    """
    decoded: DecodedKey | None = identifier if isinstance(identifier, DecodedKey) else None
    if decoded is not None:
        id_type = IdentifierType.KEY
        identifier = decoded.fingerprint
    if not isinstance(identifier, str) or not identifier.strip():
        raise InvalidInput(
            "Give a key, a credential id, a user name or a role.", field="identifier"
        )
    id_type = id_type or classify(identifier, kind=kind)
    account = account.strip() if account else None
    account_config = clients.account_config(account)

    def _account_for(account_id: str | None) -> str | None:
        # A key or ARN names its account: pick the configured account it belongs to, and
        # refuse one that contradicts it rather than act in the wrong account.
        if account_id is None:
            return account
        if account_config is not None:
            if account_config.account_id != account_id:
                raise InvalidInput(
                    f"That belongs to AWS account {account_id}, but account {account!r} is "
                    f"{account_config.account_id}.",
                    field="account",
                )
            return account
        for name, cfg in clients.settings.accounts.items():
            if cfg.account_id == account_id:
                return name
        return account

    role_name: str | None = None
    role_account_id: str | None = None
    if role:
        role_name, role_account_id = _role_name_and_account(role, "role")

    if id_type is IdentifierType.KEY:
        decoded = decoded or keys.decode(identifier, now=now)
        if kind is not None and decoded.kind is not kind:
            raise InvalidInput(
                f"The pasted key is a {decoded.kind.value.replace('_', '-')} key, "
                f"not {kind.value.replace('_', '-')}.",
                field="kind",
            )
        if decoded.kind is KeyKind.SHORT_TERM:
            # The signer is read from CloudTrail at resolution; a role given here is checked
            # against it, and stands alone only when CloudTrail cannot say.
            return Lookup(
                id_type=id_type,
                kind=KeyKind.SHORT_TERM,
                account=_account_for(role_account_id),
                key=decoded,
                role_name=role_name,
                role_account_id=role_account_id,
            )
        acct = _account_for(decoded.account_id)
        return Lookup(
            id_type=id_type,
            kind=KeyKind.LONG_TERM,
            account=acct,
            key=decoded,
            value=decoded.user_name,
        )

    if id_type is IdentifierType.ROLE:
        if kind is KeyKind.LONG_TERM:
            raise InvalidInput("A long-term key belongs to an IAM user, not a role.", field="kind")
        name, arn_account = _role_name_and_account(identifier, "identifier")
        return Lookup(
            id_type=id_type,
            kind=KeyKind.SHORT_TERM,
            account=_account_for(arn_account),
            value=name,
            role_name=name,
            role_account_id=arn_account,
        )

    if kind is KeyKind.SHORT_TERM:
        raise InvalidInput("A short-term key is revoked on its role: give a role.", field="kind")
    if id_type is IdentifierType.CREDENTIAL_ID:
        value = validation.credential_id(identifier)
    else:
        value = validation.user_name(identifier)
    return Lookup(id_type=id_type, kind=KeyKind.LONG_TERM, account=account, value=value)


def _resource(lookup: Lookup) -> str:
    if lookup.id_type is IdentifierType.CREDENTIAL_ID:
        return f"credential {lookup.value}"
    if lookup.id_type is IdentifierType.USER:
        return f"user {lookup.value}"
    return f"role {lookup.role_name or lookup.value}"


@dataclass
class _Reading:
    """The IAM read under way: what an error names if that read fails."""

    operation: str
    resource: str


@dataclass
class _Found:
    """What the IAM reads found for a lookup, before it becomes a Target."""

    user_name: str | None = None
    credential: Credential | None = None
    others: tuple[Credential, ...] = ()
    role: Role | None = None
    user_policies: tuple[InlinePolicy, ...] = ()
    role_policies: tuple[InlinePolicy, ...] = ()
    cutoff: datetime | None = None  # the role's current session-revocation time
    user_cutoff: datetime | None = None  # the user's, for a key signed by a user's session
    access_key_status: str | None = None  # the signing AKIA key's status
    signer: Signer | None = None
    found_by: str | None = None  # how a long-term key was found, when not by its user


def _resolve_sync(
    clients: AwsClients, lookup: Lookup, request_id: str | None, now: datetime
) -> Target:
    iam = clients.iam(lookup.account, request_id=request_id)
    reading = _Reading("GetCallerIdentity", "the bot's own identity")
    caller_arn: str | None = None
    try:
        me = clients.caller_identity(lookup.account, request_id=request_id)
        caller_arn = me.arn
        bot_roles = clients.bot_roles()
        _check_same_account(lookup, me.account_id)
        if lookup.kind is KeyKind.LONG_TERM:
            found = _read_long_term(iam, lookup, reading)
        else:
            signed = None
            if lookup.key is not None and lookup.key.signed_by == "session":
                signed = signer.discover(
                    clients, lookup.key, account=lookup.account, request_id=request_id, now=now
                )
                _check_signer_account(signed, me.account_id)
                lookup = _with_signer(lookup, signed)
            found = _read_short_term(iam, lookup, reading)
            if signed is not None:
                found.signer = signed
    except (ClientError, BotoCoreError) as exc:
        assuming = assume_role_failure(
            exc, lookup.account, clients.settings.accounts.get(lookup.account or "")
        )
        raise assuming or as_domain_error(
            exc, operation=reading.operation, resource=reading.resource, caller_arn=caller_arn
        ) from None

    facts = Facts(
        resolved_at=now,
        caller_arn=me.arn,
        caller_role_name=me.role_name,
        bot_roles=bot_roles,
        user_inline_policies=found.user_policies,
        role_inline_policies=found.role_policies,
        user_denied=any(policies.is_deny_policy(p.name) for p in found.user_policies),
        role_denied=any(policies.is_deny_policy(p.name) for p in found.role_policies),
        session_revocation_time=found.cutoff,
        user_session_revocation_time=found.user_cutoff,
        access_key_status=found.access_key_status,
    )
    return Target(
        kind=lookup.kind,
        account=lookup.account,
        account_id=me.account_id,
        user_name=found.user_name,
        credential=found.credential,
        other_credentials=found.others,
        role=found.role,
        key=lookup.key,
        facts=facts,
        signer=found.signer,
        found_by=found.found_by,
    )


def _check_signer_account(found: Signer, account_id: str) -> None:
    if found.account_id and found.account_id != account_id:
        raise InvalidInput(
            f"The key was signed with an access key of AWS account {found.account_id} "
            f"(sts:GetAccessKeyInfo), but the bot is working in {account_id}; choose that account.",
            field="account",
        )


def _with_signer(lookup: Lookup, found: Signer) -> Lookup:
    """The principal to act on: the one CloudTrail shows, checked against the one typed."""
    access_key = lookup.key.access_key_id if lookup.key else "?"
    given = lookup.role_name
    if not found.confirmed:
        if given is None:
            raise InvalidInput(
                f"CloudTrail could not confirm who signed this key: {found.problem}. Give the "
                "role name or ARN (or the assumed-role ARN of a CloudTrail event made with "
                f"access key {access_key}).",
                field="identifier",
            )
        return lookup
    shown = signer.describe(found)
    if found.kind in (SignerKind.ROLE, SignerKind.IDENTITY_CENTER):
        assert found.name is not None
        if given is not None and (
            given.lower() != found.name.lower()
            or (lookup.role_account_id and found.account_id != lookup.role_account_id)
        ):
            raise InvalidInput(
                f"CloudTrail shows access key {access_key} in use by role {found.name} "
                f"({found.arn}), not {given}. {shown} Leave the role empty or give "
                f"{found.name}.",
                field="identifier",
            )
        return dataclasses.replace(lookup, role_name=found.name)
    if found.kind is SignerKind.USER:
        if given is not None:
            raise InvalidInput(
                f"CloudTrail shows access key {access_key} is a session of IAM user "
                f"{found.name}, not of role {given}. {shown} Leave the role empty; deny_user "
                "and revoke_sessions act on the user.",
                field="identifier",
            )
        return dataclasses.replace(lookup, role_name=None, value=found.name)
    raise Refused(
        f"CloudTrail shows access key {access_key} in use by {found.name} ({found.arn}). "
        f"{shown} No policy this bot attaches to a user or role stops it.",
        suggestion="Act on that principal in the console (for the root user: delete its access "
        "keys).",
        field="identifier",
    )


def _check_same_account(lookup: Lookup, account_id: str) -> None:
    """Refuse a role or key of another account than the one the bot is working in."""
    if lookup.role_account_id and lookup.role_account_id != account_id:
        raise InvalidInput(
            f"The role is in AWS account {lookup.role_account_id}, but the bot is working in "
            f"{account_id}; choose that account.",
            field="account",
        )
    if lookup.key and lookup.key.account_id and lookup.key.account_id != account_id:
        raise InvalidInput(
            f"The key belongs to AWS account {lookup.key.account_id}, but the bot is working "
            f"in {account_id}; choose that account.",
            field="account",
        )


def _read_long_term(iam: IAMClient, lookup: Lookup, reading: _Reading) -> _Found:
    """The key's user, the key itself when it can be told apart, and the user's policies."""
    credential: Credential | None = None
    found_by: str | None = None
    if lookup.id_type is IdentifierType.CREDENTIAL_ID:
        reading.operation, reading.resource = "ListServiceSpecificCredentials", _resource(lookup)
        credential = next(
            (c for c in all_credentials(iam) if c.credential_id == lookup.value), None
        )
        if credential is None:
            raise NotFound(
                f"No Bedrock API key with id {lookup.value} exists in this account "
                "(it may already be deleted)."
            )
        user_name = credential.user_name
        creds = user_credentials(iam, user_name)
    elif lookup.key is not None:
        user_name, creds, credential, found_by = _key_by_alias(iam, lookup.key, reading)
    else:
        assert lookup.value is not None
        user_name = lookup.value
        reading.operation, reading.resource = "ListServiceSpecificCredentials", f"user {user_name}"
        try:
            creds = user_credentials(iam, user_name)
        except ClientError as exc:
            if error_code(exc) == "NoSuchEntity":
                raise NotFound(f"There is no IAM user named {user_name} in this account.") from None
            raise
        if len(creds) == 1:
            credential = creds[0]
    reading.operation, reading.resource = "ListUserPolicies", f"user {user_name}"
    return _Found(
        user_name=user_name,
        credential=credential,
        others=tuple(c for c in creds if credential is None or c != credential),
        user_policies=user_inline_policies(iam, user_name),
        found_by=found_by,
    )


def _key_by_alias(
    iam: IAMClient, key: DecodedKey, reading: _Reading
) -> tuple[str, tuple[Credential, ...], Credential, str | None]:
    """(user, the user's keys, the key, how it was found) for a pasted long-term key.

    The alias names its user in the usual shape: that user's keys are listed. When it does not
    (a shape keys.py cannot read, or a user name that itself ends in +N), the exact alias is
    matched over every user's keys, and the plan says so.
    """
    user_missing = False
    if key.user_name is not None:
        user_name = key.user_name
        reading.operation, reading.resource = "ListServiceSpecificCredentials", f"user {user_name}"
        try:
            creds = user_credentials(iam, user_name)
        except ClientError as exc:
            if error_code(exc) != "NoSuchEntity":
                raise
            creds, user_missing = (), True
        credential = next((c for c in creds if c.alias == key.alias), None)
        if credential is not None:
            return user_name, creds, credential, None
    reading.operation, reading.resource = "ListServiceSpecificCredentials", "every user's keys"
    credential = next((c for c in all_credentials(iam) if c.alias == key.alias), None)
    if credential is None:
        missing = f"; there is no IAM user named {key.user_name} either" if user_missing else ""
        raise NotFound(
            f"No Bedrock API key with alias {key.alias} exists in this account (every user's "
            f"keys were searched{missing}): it was probably already deleted."
        )
    reading.resource = f"user {credential.user_name}"
    creds = user_credentials(iam, credential.user_name)
    how = (
        f"Key {credential.credential_id} was found by its exact alias {key.alias} over every "
        "user's Bedrock API keys (ListServiceSpecificCredentials with AllUsers=true), "
        + (
            f"as user {key.user_name}, which the alias seemed to name, does not hold it."
            if key.user_name
            else "as the alias does not name its user in the usual <user>-at-<account> form."
        )
    )
    return credential.user_name, creds, credential, how


def _read_short_term(iam: IAMClient, lookup: Lookup, reading: _Reading) -> _Found:
    """The signing role and its policies; for a key signed by an IAM user (its AKIA key or its
    session), the user's policies, session cutoff and the AKIA key's status."""
    found = _Found()
    if lookup.key is not None and lookup.key.signed_by == "user":
        reading.operation = "GetAccessKeyLastUsed"
        reading.resource = f"access key {lookup.key.access_key_id}"
        found.user_name = _access_key_owner(iam, lookup.key.access_key_id)
        found.signer = _akia_signer(lookup.key.access_key_id, found.user_name)
        if found.user_name is not None:
            reading.operation, reading.resource = "ListAccessKeys", f"user {found.user_name}"
            found.access_key_status = access_key_status(
                iam, found.user_name, lookup.key.access_key_id or ""
            )
    elif lookup.key is not None and lookup.value is not None and lookup.role_name is None:
        found.user_name = lookup.value  # a session of this IAM user, as CloudTrail shows
    if found.user_name is not None:
        reading.operation, reading.resource = "ListUserPolicies", f"user {found.user_name}"
        try:
            found.user_policies = user_inline_policies(iam, found.user_name)
        except ClientError as exc:
            if error_code(exc) == "NoSuchEntity":
                raise NotFound(
                    f"There is no IAM user named {found.user_name} in this account."
                ) from None
            raise
        reading.operation = "GetUserPolicy"
        found.user_cutoff = user_session_cutoff(iam, found.user_name)
    if lookup.role_name is not None:
        reading.operation, reading.resource = "GetRole", f"role {lookup.role_name}"
        try:
            answer = iam.get_role(RoleName=lookup.role_name)["Role"]
        except ClientError as exc:
            if error_code(exc) == "NoSuchEntity":
                raise NotFound(
                    f"There is no IAM role named {lookup.role_name} in this account."
                ) from None
            raise
        found.role = Role(name=answer["RoleName"], arn=answer["Arn"], path=answer["Path"])
        reading.operation = "ListRolePolicies"
        found.role_policies, found.cutoff = role_inline_policies(iam, found.role.name)
    return found


def _akia_signer(access_key_id: str | None, user_name: str | None) -> Signer:
    if user_name is None:
        return Signer(
            confirmed=False,
            searched=f"IAM GetAccessKeyLastUsed for access key {access_key_id}",
            problem="IAM does not name an owner for that access key in this account (it may "
            "belong to another account, be deleted, or the bot may not read it)",
        )
    return Signer(
        confirmed=True,
        kind=SignerKind.USER,
        name=user_name,
        evidence=Evidence(source="IAM GetAccessKeyLastUsed"),
        searched=f"IAM GetAccessKeyLastUsed for access key {access_key_id}",
    )


def _access_key_owner(iam: IAMClient, access_key_id: str | None) -> str | None:
    """The IAM user owning an AKIA key, when it is in this account and visible to us."""
    if not access_key_id:
        return None
    try:
        answer = iam.get_access_key_last_used(AccessKeyId=access_key_id)
    except ClientError as exc:
        if error_code(exc) in ("NoSuchEntity", "AccessDenied"):
            # Not fatal: the guards then ask for the user by name.
            return None
        raise
    name = answer.get("UserName")
    return str(name) if name else None


async def resolve(
    clients: AwsClients,
    identifier: str | DecodedKey,
    *,
    kind: KeyKind | None = None,
    id_type: IdentifierType | None = None,
    role: str | None = None,
    account: str | None = None,
    request_id: str | None = None,
    now: datetime | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Target:
    """Resolve a responder's identifier to a Target (validation first, then IAM reads)."""
    moment = now or (clock() if clock else datetime.now(UTC))
    lookup = prepare(
        clients, identifier, kind=kind, id_type=id_type, role=role, account=account, now=moment
    )
    return await asyncio.to_thread(_resolve_sync, clients, lookup, request_id, moment)
