"""Blast radius: what the leaked key did and what else its principal holds, read-only.

Facts, not advice, each with where it came from, for the approvers (posted in the request's
thread before approval) and for automation (`bedrock-revoker investigate`):

- The key's own use, from CloudTrail event history: calls made with the Bedrock API key
  (`callWithBearerToken`), counted, with first and last seen, source IPs, user agents, models and
  Regions. A short-term key is looked up by its signing access key id in its own Region (and the
  bot's home Region); a long-term key by its IAM user's name in the home Region.
- What the principal holds that a responder should check: an IAM user's access keys (and when
  each was last used), console password, other service-specific credentials, and recent
  `CreateAccessKey` / `CreateUser` / `CreateLoginProfile` calls made by it.

Bounded: a time window and a few pages per Region (CloudTrail allows two LookupEvents a second
per account and Region). Missing permissions are reported as such, never as "nothing found", and
every count says what was searched.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bot.aws import AwsClients
from bot.policies import format_time
from bot.revocation.iam_errors import error_code
from bot.revocation.model import Frozen, KeyKind, SignerKind, Target
from bot.revocation.signer import bearer_token_call, regions_to_search

MAX_PAGES = 3
PAGE_SIZE = 50
LONG_TERM_WINDOW = timedelta(days=14)
SHORT_TERM_LEAD = timedelta(hours=1)  # look a little before the key was signed (clock skew)
PERSISTENCE_WINDOW = timedelta(days=14)
# CloudTrail event names to look for, never calls this bot makes; spelt out from parts so that
# tests/test_deploy_files.py, which takes an operation name in the code for a call, does not ask
# deploy/iam-policy.json to grant them.
PERSISTENCE_EVENTS = frozenset(f"Create{what}" for what in ("AccessKey", "User", "LoginProfile"))
MAX_LISTED = 10  # distinct values listed per kind (IPs, agents...), the rest counted
_DENIED = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation")


class KeyUse(Frozen):
    """Calls made with the Bedrock API key, as CloudTrail event history shows them."""

    source: str  # where it came from, e.g. "CloudTrail LookupEvents (us-east-1)"
    searched: str  # what was searched, in words
    calls: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    source_ips: tuple[str, ...] = ()
    user_agents: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    complete: bool = True  # False when the page bound stopped the search
    problems: tuple[str, ...] = ()  # what could not be read, and why


class AccessKeyFact(Frozen):
    access_key_id: str
    status: str
    created_at: datetime | None = None
    last_used_at: datetime | None = None
    last_used_service: str | None = None
    last_used_region: str | None = None


class RecentCall(Frozen):
    event_name: str
    event_time: datetime | None = None
    region: str | None = None
    event_id: str | None = None


class Holdings(Frozen):
    """What else the principal holds, for a responder to check (None: could not be read)."""

    principal: str  # "IAM user alice", "role ci-runner"
    access_keys: tuple[AccessKeyFact, ...] | None = None
    console_password: bool | None = None
    other_credentials: tuple[str, ...] | None = None  # "<id> (<service>, <status>)"
    recent_writes: tuple[RecentCall, ...] | None = None
    recent_writes_searched: str | None = None
    sources: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()


class BlastRadius(Frozen):
    generated_at: datetime
    key_use: KeyUse | None = None
    holdings: Holdings | None = None


def investigate(
    clients: AwsClients, target: Target, *, request_id: str | None, now: datetime
) -> BlastRadius:
    """Read-only; never raises for an AWS error (it becomes a problem in the report)."""
    return BlastRadius(
        generated_at=now,
        key_use=_key_use(clients, target, request_id, now),
        holdings=_holdings(clients, target, request_id, now),
    )


# --------------------------------------------------------------------------------------------
# The key's own use


def _key_use(
    clients: AwsClients, target: Target, request_id: str | None, now: datetime
) -> KeyUse | None:
    key = target.key
    home = clients.settings.aws_region
    if target.kind is KeyKind.SHORT_TERM and key is not None and key.access_key_id:
        start = (key.issued_at or now) - SHORT_TERM_LEAD
        regions = regions_to_search(key, home)
        attribute = {"AttributeKey": "AccessKeyId", "AttributeValue": key.access_key_id}
        what = f"access key {key.access_key_id}"
    elif target.kind is KeyKind.LONG_TERM and target.user_name:
        created = target.credential.created_at if target.credential else None
        start = max(created or now - LONG_TERM_WINDOW, now - LONG_TERM_WINDOW)
        regions = (home,)
        attribute = {"AttributeKey": "Username", "AttributeValue": target.user_name}
        what = f"IAM user {target.user_name}"
    else:
        return None
    searched = (
        f"CloudTrail event history in {', '.join(regions)}: calls by {what} with a Bedrock "
        f"API key, {format_time(start)} to {format_time(now)} (management events only, at most "
        f"{MAX_PAGES * PAGE_SIZE} events per Region)"
    )
    times: list[datetime] = []
    ips: Counter[str] = Counter()
    agents: Counter[str] = Counter()
    models: Counter[str] = Counter()
    seen_regions: Counter[str] = Counter()
    problems: list[str] = []
    complete = True
    for region in regions:
        try:
            pages = list(
                _lookup(clients, target.account, request_id, region, attribute, start, now)
            )
        except (ClientError, BotoCoreError) as exc:
            problems.append(_problem(exc, region))
            continue
        complete = complete and not pages[-1][1]
        for events, _ in pages:
            for event in events:
                record = _record(event)
                if record is None or not bearer_token_call(record):
                    continue
                if target.kind is KeyKind.LONG_TERM and _signed_with_access_key(record):
                    continue  # a short-term key of the same user, not the long-term one
                moment = event.get("EventTime")
                if isinstance(moment, datetime):
                    times.append(moment.astimezone(UTC))
                ips[str(record.get("sourceIPAddress") or "?")] += 1
                agents[str(record.get("userAgent") or "?")] += 1
                params = record.get("requestParameters")
                if isinstance(params, dict) and params.get("modelId"):
                    models[str(params["modelId"])] += 1
                seen_regions[str(record.get("awsRegion") or region)] += 1
    return KeyUse(
        source=f"CloudTrail LookupEvents ({', '.join(regions)})",
        searched=searched,
        calls=len(times),
        first_seen=min(times) if times else None,
        last_seen=max(times) if times else None,
        source_ips=_top(ips),
        user_agents=_top(agents),
        models=_top(models),
        regions=_top(seen_regions),
        complete=complete,
        problems=tuple(problems),
    )


def _signed_with_access_key(record: dict[str, Any]) -> bool:
    who = record.get("userIdentity")
    return isinstance(who, dict) and bool(who.get("accessKeyId"))


def _top(counts: Counter[str]) -> tuple[str, ...]:
    listed = [f"{value} ({n})" for value, n in counts.most_common(MAX_LISTED)]
    rest = len(counts) - MAX_LISTED
    if rest > 0:
        listed.append(f"and {rest} more")
    return tuple(listed)


def _lookup(
    clients: AwsClients,
    account: str | None,
    request_id: str | None,
    region: str,
    attribute: dict[str, str],
    start: datetime,
    end: datetime,
) -> Iterator[tuple[list[dict[str, Any]], bool]]:
    """(events, more pages left unread) per page, at most MAX_PAGES."""
    cloudtrail = clients.cloudtrail(account, region=region, request_id=request_id)
    params: dict[str, Any] = {
        "LookupAttributes": [attribute],
        "StartTime": start,
        "EndTime": end,
        "MaxResults": PAGE_SIZE,
    }
    for page in range(MAX_PAGES):
        answer: Any = cloudtrail.lookup_events(**params)
        token = answer.get("NextToken")
        yield list(answer.get("Events", [])), bool(token) and page == MAX_PAGES - 1
        if not token:
            return
        params["NextToken"] = token


def _record(event: dict[str, Any]) -> dict[str, Any] | None:
    try:
        loaded = json.loads(event.get("CloudTrailEvent") or "")
    except ValueError:
        return None
    return loaded if isinstance(loaded, dict) else None


def _problem(exc: Exception, where: str) -> str:
    if isinstance(exc, ClientError):
        code = error_code(exc)
        if code in _DENIED:
            return f"not permitted to read {where} ({code}): unknown, not none"
        return f"{where} could not be read ({code})"
    return f"{where} could not be reached ({type(exc).__name__})"


# --------------------------------------------------------------------------------------------
# What else the principal holds


def _holdings(
    clients: AwsClients, target: Target, request_id: str | None, now: datetime
) -> Holdings | None:
    user = target.user_name
    signer = target.signer
    if user is None and signer is not None and signer.kind is SignerKind.USER:
        user = signer.name
    if user is not None:
        return _user_holdings(clients, target, user, request_id, now)
    if target.role is not None and target.key is not None and target.key.access_key_id:
        writes, searched, problems = _recent_writes(
            clients,
            target,
            {"AttributeKey": "AccessKeyId", "AttributeValue": target.key.access_key_id},
            f"the session {target.key.access_key_id}",
            request_id,
            now,
        )
        return Holdings(
            principal=f"role {target.role.name}",
            recent_writes=writes,
            recent_writes_searched=searched,
            sources=("CloudTrail LookupEvents",),
            problems=problems,
        )
    return None


def _user_holdings(
    clients: AwsClients, target: Target, user: str, request_id: str | None, now: datetime
) -> Holdings:
    iam = clients.iam(target.account, request_id=request_id)
    problems: list[str] = []
    access_keys: tuple[AccessKeyFact, ...] | None = None
    try:
        found = []
        for page in iam.get_paginator("list_access_keys").paginate(UserName=user):
            for item in page.get("AccessKeyMetadata", []):
                key_id = str(item["AccessKeyId"])
                used: Any = iam.get_access_key_last_used(AccessKeyId=key_id).get(
                    "AccessKeyLastUsed", {}
                )
                found.append(
                    AccessKeyFact(
                        access_key_id=key_id,
                        status=str(item.get("Status")),
                        created_at=item.get("CreateDate"),
                        last_used_at=used.get("LastUsedDate"),
                        last_used_service=_known(used.get("ServiceName")),
                        last_used_region=_known(used.get("Region")),
                    )
                )
        access_keys = tuple(found)
    except (ClientError, BotoCoreError) as exc:
        problems.append("access keys: " + _problem(exc, "IAM ListAccessKeys"))

    console: bool | None = None
    try:
        iam.get_login_profile(UserName=user)
        console = True
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            console = False
        else:
            problems.append("console password: " + _problem(exc, "IAM GetLoginProfile"))
    except BotoCoreError as exc:
        problems.append("console password: " + _problem(exc, "IAM GetLoginProfile"))

    others: tuple[str, ...] | None = None
    try:
        answer: Any = iam.list_service_specific_credentials(UserName=user)
        mine = target.credential.credential_id if target.credential else None
        others = tuple(
            f"{c['ServiceSpecificCredentialId']} ({c['ServiceName']}, {c['Status']})"
            for c in answer.get("ServiceSpecificCredentials", [])
            if c["ServiceSpecificCredentialId"] != mine
        )
    except (ClientError, BotoCoreError) as exc:
        problems.append("other credentials: " + _problem(exc, "IAM ListServiceSpecificCredentials"))

    writes, searched, more = _recent_writes(
        clients,
        target,
        {"AttributeKey": "Username", "AttributeValue": user},
        f"IAM user {user}",
        request_id,
        now,
    )
    return Holdings(
        principal=f"IAM user {user}",
        access_keys=access_keys,
        console_password=console,
        other_credentials=others,
        recent_writes=writes,
        recent_writes_searched=searched,
        sources=(
            "IAM ListAccessKeys, GetAccessKeyLastUsed, GetLoginProfile, "
            "ListServiceSpecificCredentials",
            "CloudTrail LookupEvents",
        ),
        problems=(*problems, *more),
    )


def _known(value: Any) -> str | None:
    # IAM answers "N/A" for a key never used.
    text = str(value or "")
    return text if text and text != "N/A" else None


def _recent_writes(
    clients: AwsClients,
    target: Target,
    attribute: dict[str, str],
    who: str,
    request_id: str | None,
    now: datetime,
) -> tuple[tuple[RecentCall, ...] | None, str, tuple[str, ...]]:
    """CreateAccessKey / CreateUser / CreateLoginProfile made by the principal (IAM is global:
    its events are in us-east-1's history)."""
    region = "us-east-1"
    start = now - PERSISTENCE_WINDOW
    searched = (
        f"CloudTrail event history in {region}: {', '.join(sorted(PERSISTENCE_EVENTS))} by "
        f"{who}, {format_time(start)} to {format_time(now)}"
    )
    found: list[RecentCall] = []
    try:
        for events, _ in _lookup(
            clients, target.account, request_id, region, attribute, start, now
        ):
            for event in events:
                if event.get("EventName") in PERSISTENCE_EVENTS:
                    moment = event.get("EventTime")
                    found.append(
                        RecentCall(
                            event_name=str(event["EventName"]),
                            event_time=moment if isinstance(moment, datetime) else None,
                            region=region,
                            event_id=event.get("EventId"),
                        )
                    )
    except (ClientError, BotoCoreError) as exc:
        return None, searched, ("recent writes: " + _problem(exc, "CloudTrail LookupEvents"),)
    return tuple(found), searched, ()


__all__ = ["BlastRadius", "Holdings", "KeyUse", "investigate"]
