"""Read-only IAM helpers shared by resolution, execution and verification (synchronous boto3)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from bot import policies
from bot.revocation.iam_errors import error_code
from bot.revocation.model import Credential, InlinePolicy

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

BEDROCK_SERVICE = "bedrock.amazonaws.com"


def _utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def credential_from(item: Any) -> Credential:
    return Credential(
        credential_id=item["ServiceSpecificCredentialId"],
        user_name=item["UserName"],
        status=item["Status"],
        alias=item.get("ServiceCredentialAlias") or None,
        created_at=_utc(item.get("CreateDate")),
        expires_at=_utc(item.get("ExpirationDate")),
    )


def _pages(iam: IAMClient, **params: Any) -> Iterator[dict[str, Any]]:
    # botocore has no paginator for ListServiceSpecificCredentials: follow Marker by hand.
    marker: str | None = None
    seen: set[str] = set()
    while True:
        call = dict(params)
        if marker:
            call["Marker"] = marker
        page: dict[str, Any] = dict(iam.list_service_specific_credentials(**call))
        yield page
        marker = page.get("Marker")
        # A server that repeats a marker would otherwise loop forever.
        if not page.get("IsTruncated") or not marker or marker in seen:
            return
        seen.add(marker)


def user_credentials(iam: IAMClient, user_name: str) -> tuple[Credential, ...]:
    """The user's Bedrock API keys. Raises ClientError NoSuchEntity when the user is absent."""
    found: list[Credential] = []
    for page in _pages(iam, UserName=user_name, ServiceName=BEDROCK_SERVICE):
        found.extend(credential_from(c) for c in page.get("ServiceSpecificCredentials", []))
    return tuple(found)


def all_credentials(iam: IAMClient, *, page_size: int | None = None) -> Iterator[Credential]:
    """Every user's Bedrock API keys in the account, page by page (`page_size` a page, IAM's
    default when None), each once."""
    seen: set[str] = set()
    params: dict[str, Any] = {"AllUsers": True, "ServiceName": BEDROCK_SERVICE}
    if page_size is not None:
        params["MaxItems"] = page_size
    for page in _pages(iam, **params):
        for item in page.get("ServiceSpecificCredentials", []):
            # Pages must not overlap, but a server that repeats an item must not make us
            # report a key twice.
            if item["ServiceSpecificCredentialId"] not in seen:
                seen.add(item["ServiceSpecificCredentialId"])
                yield credential_from(item)


def find_credential(iam: IAMClient, user_name: str, credential_id: str) -> Credential | None:
    """The credential, or None when the user exists but has no such key (deleted)."""
    for cred in user_credentials(iam, user_name):
        if cred.credential_id == credential_id:
            return cred
    return None


def user_policy(iam: IAMClient, user_name: str, policy_name: str) -> dict[str, Any] | None:
    """The inline policy's document, or None when the user has no policy by that name."""
    try:
        answer = iam.get_user_policy(UserName=user_name, PolicyName=policy_name)
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            # Also raised when the user itself is gone; callers that care check the user.
            return None
        raise
    return policies.parse(answer["PolicyDocument"])


def role_policy(iam: IAMClient, role_name: str, policy_name: str) -> dict[str, Any] | None:
    try:
        answer = iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return None
        raise
    return policies.parse(answer["PolicyDocument"])


def user_inline_policies(iam: IAMClient, user_name: str) -> tuple[InlinePolicy, ...]:
    names: list[str] = []
    for page in iam.get_paginator("list_user_policies").paginate(UserName=user_name):
        names.extend(page.get("PolicyNames", []))
    out = []
    for name in names:
        doc = user_policy(iam, user_name, name)
        if doc is not None:
            out.append(InlinePolicy(name=name, size=policies.policy_size(doc)))
    return tuple(out)


def role_inline_policies(
    iam: IAMClient, role_name: str
) -> tuple[tuple[InlinePolicy, ...], datetime | None]:
    """The role's inline policies and its current session-revocation cutoff, if any."""
    names: list[str] = []
    for page in iam.get_paginator("list_role_policies").paginate(RoleName=role_name):
        names.extend(page.get("PolicyNames", []))
    out = []
    cutoff: datetime | None = None
    for name in names:
        doc = role_policy(iam, role_name, name)
        if doc is None:
            continue
        out.append(InlinePolicy(name=name, size=policies.policy_size(doc)))
        if policies.is_session_cutoff_policy(name):
            cutoff = _later(cutoff, policies.session_revocation_time(doc))
    return tuple(out), cutoff


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    # Several cutoffs add up to the latest: each denies the sessions issued before its own time.
    if a is None or b is None:
        return a or b
    return max(a, b)


def user_session_cutoff(iam: IAMClient, user_name: str) -> datetime | None:
    """The latest aws:TokenIssueTime cutoff among the user's session-cutoff policies, if any."""
    cutoff: datetime | None = None
    for page in iam.get_paginator("list_user_policies").paginate(UserName=user_name):
        for name in page.get("PolicyNames", []):
            if not policies.is_session_cutoff_policy(name):
                continue
            doc = user_policy(iam, user_name, name)
            if doc is not None:
                cutoff = _later(cutoff, policies.session_revocation_time(doc))
    return cutoff


def access_key_status(iam: IAMClient, user_name: str, access_key_id: str) -> str | None:
    """The status (Active/Inactive) of one of the user's access keys; None when it is gone."""
    for page in iam.get_paginator("list_access_keys").paginate(UserName=user_name):
        for item in page.get("AccessKeyMetadata", []):
            if item.get("AccessKeyId") == access_key_id:
                return str(item.get("Status"))
    return None
