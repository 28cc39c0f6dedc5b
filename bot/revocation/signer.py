"""Who signed a short-term key, read from CloudTrail rather than taken on a responder's word.

A short-term key carries the access key id that signed it (`ASIA…` for a session, `AKIA…` for an
IAM user's long-term key) but not the principal. Role names repeat across accounts and teams, so
acting on the role a responder types can lock down the wrong role and leave the key working.

The evidence: `sts:GetAccessKeyInfo` names the key's account; CloudTrail `LookupEvents` with
`LookupAttributes=[{AccessKeyId}]` returns calls made with that access key, whose `userIdentity`
names the principal (a role session's `sessionContext.sessionIssuer`, an IAM user, an Identity
Center `AWSReservedSSO_*` role). Event history is per Region: the key's own Region is searched
first (a short-term key is signed for one Region), then the bot's home Region. Reads are bounded:
a few pages per Region, and the window starts 36 hours before the key was signed (no session
that could sign it lives longer), never more than CloudTrail's 90 days back.

Nothing found is not "nobody": the result then says what was searched and why it may be empty,
and the responder's choice stands, marked unconfirmed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bot.aws import AwsClients
from bot.policies import format_time
from bot.revocation.guards import IDENTITY_CENTER_PATH, IDENTITY_CENTER_PREFIX
from bot.revocation.iam_errors import error_code
from bot.revocation.model import DecodedKey, Evidence, Signer, SignerKind

LOOKUP_SOURCE = "CloudTrail LookupEvents"
MAX_PAGES_PER_REGION = 3
PAGE_SIZE = 50
# The longest a session that can sign a key lives: GetSessionToken allows 36 hours.
LONGEST_SESSION = timedelta(hours=36)
RETENTION = timedelta(days=90)
_DENIED = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation")


def regions_to_search(key: DecodedKey, home_region: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(r for r in (key.region, home_region) if r))


def discover(
    clients: AwsClients,
    key: DecodedKey,
    *,
    account: str | None,
    request_id: str | None,
    now: datetime,
) -> Signer:
    """The principal that signed `key`, from CloudTrail; never raises for AWS errors."""
    access_key_id = key.access_key_id or ""
    regions = regions_to_search(key, clients.settings.aws_region)
    start = max((key.issued_at or now) - LONGEST_SESSION, now - RETENTION)
    searched = (
        f"CloudTrail event history in {', '.join(regions)} for access key {access_key_id}, "
        f"{format_time(start)} to {format_time(now)}"
    )
    owner_account = _key_account(clients, account, request_id, access_key_id)
    problems: list[str] = []
    for region in regions:
        try:
            found = _first_identity(clients, account, request_id, region, access_key_id, start, now)
        except ClientError as exc:
            code = error_code(exc)
            if code in _DENIED:
                problems.append(
                    f"the bot may not read CloudTrail event history in {region} "
                    f"(cloudtrail:LookupEvents: {code})"
                )
            else:
                problems.append(f"CloudTrail LookupEvents failed in {region} ({code})")
            continue
        except BotoCoreError as exc:
            problems.append(f"CloudTrail could not be reached in {region} ({type(exc).__name__})")
            continue
        if found is not None:
            record, evidence = found
            return _signer(record, evidence, searched, owner_account)
    if not problems:
        problems.append(
            "no event made with that access key was found (the key or its session may not have "
            "been used yet, only in another Region, or only in data events event history does "
            "not show)"
        )
    return Signer(
        confirmed=False,
        account_id=owner_account,
        searched=searched,
        problem="; ".join(problems),
    )


def locate(
    clients: AwsClients,
    key: DecodedKey,
    *,
    account: str | None,
    request_id: str | None,
    now: datetime,
) -> tuple[str | None, Signer]:
    """(the configured account to look in, the signer found there). With several accounts and
    none chosen, GetAccessKeyInfo names the key's account and the configured one with that id
    is searched, so the modal can preselect it."""
    if account is None and clients.settings.accounts:
        owner = _key_account(clients, None, request_id, key.access_key_id or "")
        account = next(
            (n for n, c in clients.settings.accounts.items() if c.account_id == owner), None
        )
    return account, discover(clients, key, account=account, request_id=request_id, now=now)


def _key_account(
    clients: AwsClients, account: str | None, request_id: str | None, access_key_id: str
) -> str | None:
    try:
        answer = clients.sts(account, request_id=request_id).get_access_key_info(
            AccessKeyId=access_key_id
        )
    except (ClientError, BotoCoreError):
        return None  # only a cross-check: the events name the account too
    return str(answer.get("Account") or "") or None


def _pages(
    clients: AwsClients,
    account: str | None,
    request_id: str | None,
    region: str,
    access_key_id: str,
    start: datetime,
    end: datetime,
) -> Iterator[list[dict[str, Any]]]:
    cloudtrail = clients.cloudtrail(account, region=region, request_id=request_id)
    params: dict[str, Any] = {
        "LookupAttributes": [{"AttributeKey": "AccessKeyId", "AttributeValue": access_key_id}],
        "StartTime": start,
        "EndTime": end,
        "MaxResults": PAGE_SIZE,
    }
    for _ in range(MAX_PAGES_PER_REGION):
        # botocore's standard retry mode backs off on ThrottlingException (2 requests/s limit).
        answer: Any = cloudtrail.lookup_events(**params)
        yield list(answer.get("Events", []))
        token = answer.get("NextToken")
        if not token:
            return
        params["NextToken"] = token


def _first_identity(
    clients: AwsClients,
    account: str | None,
    request_id: str | None,
    region: str,
    access_key_id: str,
    start: datetime,
    end: datetime,
) -> tuple[dict[str, Any], Evidence] | None:
    """The identity of the best event in the bounded pages: a bearer-token call when there is
    one (it is the key itself being used), else the newest event made with the access key."""
    best: tuple[dict[str, Any], Evidence] | None = None
    for page in _pages(clients, account, request_id, region, access_key_id, start, end):
        for event in page:
            record = _record(event)
            who = record.get("userIdentity") if record else None
            if not isinstance(who, dict) or who.get("accessKeyId") != access_key_id:
                continue
            evidence = _evidence(record or {}, event, region)
            if evidence.bearer_token:
                return who, evidence
            if best is None:
                best = (who, evidence)
    return best


def _record(event: dict[str, Any]) -> dict[str, Any] | None:
    try:
        loaded = json.loads(event.get("CloudTrailEvent") or "")
    except ValueError:
        return None
    return loaded if isinstance(loaded, dict) else None


def bearer_token_call(record: dict[str, Any]) -> bool:
    """Whether a CloudTrail record is a call made with a Bedrock API key: bedrock-runtime puts
    the flag in additionalEventData, bedrock-mantle in requestParameters."""
    for part in ("additionalEventData", "requestParameters"):
        value = record.get(part)
        if isinstance(value, dict) and value.get("callWithBearerToken") in (True, "true"):
            return True
    return False


def _evidence(record: dict[str, Any], event: dict[str, Any], region: str) -> Evidence:
    when = event.get("EventTime")
    if isinstance(when, datetime):
        when = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    else:
        when = _parse_time(record.get("eventTime"))
    return Evidence(
        source=LOOKUP_SOURCE,
        event_name=str(event.get("EventName") or record.get("eventName") or "") or None,
        event_source=str(event.get("EventSource") or record.get("eventSource") or "") or None,
        event_time=when,
        region=str(record.get("awsRegion") or region),
        event_id=str(event.get("EventId") or "") or None,
        bearer_token=bearer_token_call(record),
    )


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _signer(
    who: dict[str, Any], evidence: Evidence, searched: str, owner_account: str | None
) -> Signer:
    kind_name = who.get("type")
    context = _mapping(who.get("sessionContext"))
    attributes = _mapping(context.get("attributes"))
    issued = _parse_time(attributes.get("creationDate"))
    account_id = str(who.get("accountId") or owner_account or "") or None
    if kind_name == "AssumedRole":
        issuer = _mapping(context.get("sessionIssuer"))
        name = str(issuer.get("userName") or "")
        arn = str(issuer.get("arn") or "")
        identity_center = name.startswith(IDENTITY_CENTER_PREFIX) or IDENTITY_CENTER_PATH in arn
        return Signer(
            confirmed=True,
            kind=SignerKind.IDENTITY_CENTER if identity_center else SignerKind.ROLE,
            name=name or None,
            arn=arn or None,
            account_id=str(issuer.get("accountId") or account_id or "") or None,
            session_issued_at=issued,
            evidence=evidence,
            searched=searched,
        )
    if kind_name == "IAMUser":
        return Signer(
            confirmed=True,
            kind=SignerKind.USER,
            name=str(who.get("userName") or "") or None,
            arn=str(who.get("arn") or "") or None,
            account_id=account_id,
            session_issued_at=issued,
            evidence=evidence,
            searched=searched,
        )
    return Signer(
        confirmed=True,
        kind=SignerKind.OTHER,
        name=str(kind_name or "unknown"),
        arn=str(who.get("arn") or "") or None,
        account_id=account_id,
        session_issued_at=issued,
        evidence=evidence,
        searched=searched,
    )


def describe(signer: Signer) -> str:
    """The signer and its evidence in one sentence, for the modal, the plan and the CLI."""
    if not signer.confirmed:
        return f"Signer not confirmed: {signer.problem}. Searched: {signer.searched}."
    what = {
        SignerKind.ROLE: "role",
        SignerKind.IDENTITY_CENTER: "IAM Identity Center role",
        SignerKind.USER: "IAM user",
        SignerKind.OTHER: "principal",
    }[signer.kind or SignerKind.OTHER]
    who = f"{what} {signer.name}" + (f" ({signer.arn})" if signer.arn else "")
    return f"Signed by {who}; evidence: {evidence_text(signer.evidence)}."


def evidence_text(evidence: Evidence | None) -> str:
    if evidence is None:
        return "none"
    parts = [evidence.source + ":"]
    if evidence.event_name:
        parts.append(evidence.event_name)
    if evidence.event_source:
        bearer = ", with the Bedrock API key" if evidence.bearer_token else ""
        parts.append(f"({evidence.event_source}{bearer})")
    if evidence.event_time:
        parts.append(f"at {format_time(evidence.event_time)}")
    if evidence.region:
        parts.append(f"in {evidence.region}")
    if evidence.event_id:
        parts.append(f"event id {evidence.event_id}")
    return " ".join(parts)


__all__ = [
    "bearer_token_call",
    "describe",
    "discover",
    "evidence_text",
    "locate",
    "regions_to_search",
]
