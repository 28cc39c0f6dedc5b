"""CloudTrail event history for moto: calls are recorded as management events, LookupEvents reads
them back, and the STS answers the bot relies on to find who signed a key are made faithful.

moto 5.2 records nothing and has no LookupEvents. `install()` adds, the way moto is built:
- Recording: every IAM, STS, Secrets Manager and Bedrock runtime call moto serves (in-process or
  over HTTP) becomes one event on the per-account, per-Region `CloudTrailBackend` of the account
  that made it, shaped like CloudTrail's record (`userIdentity` with `accessKeyId`, and for role
  sessions `sessionContext.sessionIssuer` and `attributes.creationDate`). IAM and the global STS
  endpoint are global services: their events land in us-east-1, as AWS does. A failed call is
  recorded with its `errorCode`/`errorMessage`, as CloudTrail does. DynamoDB calls are data events,
  which event history never shows, and are not recorded.
- Bedrock API keys: a Bedrock runtime call made with `Authorization: Bearer <key>` is recorded
  under the identity that signed (short-term) or owns (long-term) the key, with
  `additionalEventData.callWithBearerToken: true`. `bearer_token_call` makes such a call with the
  real boto3 client.
- `LookupEvents` (JSON protocol, `CloudTrail_20131101`): one lookup attribute at most, StartTime /
  EndTime inclusive, the last 90 days, newest first, MaxResults 1..50, a NextToken that is only
  valid with the parameters it was issued for; errors as CloudTrail names them.
- `GetSessionToken` issues a distinct `ASIA…` key per call for an IAM user (moto answers a fixed
  `AKIA…` example), refuses session credentials (AccessDenied) as STS does, and calls made with
  it are recorded as the user's, with the session's issue time.
- `GetAccessKeyInfo` knows role sessions and `GetSessionToken` sessions, not only users' keys.

Not modelled: the two-requests-per-second rate limit (inject a ThrottlingException with
`bot.sandbox.iam.inject_error(..., service="cloudtrail")` instead), Insights events, trails.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "MANAGEMENT_SERVICES",
    "bearer_token_call",
    "events",
    "install",
]

# Services whose calls are management events in CloudTrail's event history.
MANAGEMENT_SERVICES = frozenset({"iam", "sts", "secretsmanager", "bedrock-runtime"})
_GLOBAL_SERVICES = frozenset({"iam", "sts"})
_GLOBAL_REGION = "us-east-1"
_EVENT_SOURCES = {"bedrock-runtime": "bedrock.amazonaws.com"}
LOOKUP_ATTRIBUTES = (
    "EventId",
    "EventName",
    "ReadOnly",
    "Username",
    "ResourceType",
    "ResourceName",
    "EventSource",
    "AccessKeyId",
)
MAX_RESULTS = 50
RETENTION = timedelta(days=90)
SESSION_TOKEN_SECONDS = (900, 129600)  # GetSessionToken's DurationSeconds bounds (IAM users)

_LOCK = threading.RLock()
_EVENTS_ATTR = "sandbox_events"
_INDEX_ATTR = "sandbox_event_index"
# The attributes a lookup usually names (a key, a user): their events are found without
# reading every record, which a benchmark that makes tens of thousands of calls would.
_INDEXED = ("AccessKeyId", "Username")
_SESSIONS_ATTR = "sandbox_session_tokens"
_INSTALLED_ATTR = "_sandbox_cloudtrail_installed"
_READ_PREFIXES = ("Get", "List", "Describe", "Lookup")


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


# --------------------------------------------------------------------------------------------
# Who holds an access key id: role sessions, GetSessionToken sessions, users' long-term keys.


@dataclass
class _UserSession:
    """A GetSessionToken session of an IAM user."""

    access_key_id: str
    account_id: str
    user_name: str
    user_arn: str
    user_id: str
    created: datetime
    expiration: datetime


def _sts_backends() -> Iterator[Any]:
    from moto.sts.models import sts_backends

    for _, by_partition in list(sts_backends.items()):
        yield from list(by_partition.values())


def _iam_backends() -> Iterator[Any]:
    from moto.iam.models import iam_backends

    for _, by_partition in list(iam_backends.items()):
        yield from list(by_partition.values())


def _sessions(sts_backend: Any) -> list[_UserSession]:
    found: list[_UserSession] | None = getattr(sts_backend, _SESSIONS_ATTR, None)
    if found is None:
        found = []
        setattr(sts_backend, _SESSIONS_ATTR, found)
    return found


def identity(access_key_id: str) -> dict[str, Any] | None:
    """CloudTrail's `userIdentity` for calls signed with this access key id, if moto issued it."""
    for sts in _sts_backends():
        for role in list(sts.assumed_roles):
            if role.access_key_id == access_key_id:
                return _assumed_role_identity(role)
        for session in list(_sessions(sts)):
            if session.access_key_id == access_key_id:
                return _user_identity(
                    session.account_id,
                    session.user_name,
                    session.user_arn,
                    session.user_id,
                    access_key_id,
                    session_created=session.created,
                )
    for iam in _iam_backends():
        user = iam.get_user_from_access_key_id(access_key_id)
        if user is not None:
            return _user_identity(user.account_id, user.name, user.arn, user.id, access_key_id)
    return None


def _assumed_role_identity(role: Any) -> dict[str, Any]:
    role_name = role.role_arn.split("/")[-1]
    principal, _, _ = role.user_id.partition(":")
    return {
        "type": "AssumedRole",
        "principalId": role.user_id,
        "arn": role.arn,
        "accountId": role.account_id,
        "accessKeyId": role.access_key_id,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": principal,
                "arn": role.role_arn,
                "accountId": role.account_id,
                "userName": role_name,
            },
            "attributes": {
                "creationDate": _time(role.access_key.create_date),
                "mfaAuthenticated": "false",
            },
        },
    }


def _user_identity(
    account_id: str,
    user_name: str,
    user_arn: str,
    user_id: str,
    access_key_id: str | None,
    *,
    session_created: datetime | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "IAMUser",
        "principalId": user_id,
        "arn": user_arn,
        "accountId": account_id,
        "userName": user_name,
    }
    if access_key_id:
        out["accessKeyId"] = access_key_id
    if session_created is not None:
        out["sessionContext"] = {
            "sessionIssuer": {},
            "attributes": {"creationDate": _time(session_created), "mfaAuthenticated": "false"},
        }
    return out


def _root_identity(account_id: str, access_key_id: str) -> dict[str, Any]:
    # moto's default test credentials belong to nobody; CloudTrail's closest is the root user.
    return {
        "type": "Root",
        "principalId": account_id,
        "arn": f"arn:aws:iam::{account_id}:root",
        "accountId": account_id,
        "accessKeyId": access_key_id,
    }


def _bearer_identity(token: str) -> dict[str, Any] | None:
    """Who a Bedrock API key authenticates as: the signer of a short-term key, the owner of a
    long-term one. None for a string that is not a key moto could have issued."""
    from bot import keys
    from bot.errors import InvalidKey

    try:
        decoded = keys.decode(token)
    except InvalidKey:
        return None
    if decoded.access_key_id:
        return identity(decoded.access_key_id)
    from bot.sandbox.iam import _all_credentials

    for iam in _iam_backends():
        for cred in _all_credentials(iam):
            if cred.public_name == decoded.alias:
                user = iam.get_user(cred.user_name)
                return _user_identity(user.account_id, user.name, user.arn, user.id, None)
    return None


def _username(who: dict[str, Any]) -> str:
    if who["type"] == "AssumedRole":
        return str(who["arn"]).rsplit("/", 1)[-1]
    if who["type"] == "Root":
        return "root"
    return str(who.get("userName", ""))


# --------------------------------------------------------------------------------------------
# Recording


def _backend(account_id: str, region: str) -> Any:
    from moto.cloudtrail.models import cloudtrail_backends

    return cloudtrail_backends[account_id][region]


def _events_of(backend: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] | None = getattr(backend, _EVENTS_ATTR, None)
    if found is None:
        found = []
        setattr(backend, _EVENTS_ATTR, found)
    return found


def _index_of(backend: Any) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The records of each (indexed attribute, value), oldest first."""
    found: dict[tuple[str, str], list[dict[str, Any]]] | None = getattr(backend, _INDEX_ATTR, None)
    if found is None:
        found = {}
        setattr(backend, _INDEX_ATTR, found)
    return found


def _keep(backend: Any, record: dict[str, Any]) -> None:
    _events_of(backend).append(record)
    index = _index_of(backend)
    for key in _INDEXED:
        if (value := _attribute(record, key)) is not None:
            index.setdefault((key, value), []).append(record)


def events(account_id: str, region: str) -> list[dict[str, Any]]:
    """The records kept for an account and Region, oldest first (copies, for tests)."""
    install()
    with _LOCK:
        return [dict(e) for e in _events_of(_backend(account_id, region))]


def _request_parameters(response: Any) -> dict[str, Any] | None:
    if response.service_name == "bedrock-runtime":
        model = getattr(response, "uri_match", None) or {}
        found = model.get("modelId") if isinstance(model, dict) else None
        return {"modelId": found} if found else None
    params = {
        k: v[0] if isinstance(v, list) and len(v) == 1 else v
        for k, v in (response.querystring or {}).items()
        if k not in ("Action", "Version")
    }
    # Secrets and policy bodies are not what a responder needs from event history.
    for secret in ("SecretString", "SecretBinary", "PolicyDocument"):
        params.pop(secret, None)
    return params or None


def _error(status: int, body: Any) -> tuple[str | None, str | None]:
    if status < 400:
        return None, None
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    try:
        loaded = json.loads(text)
        code = str(loaded.get("__type", "")).split("#")[-1] or None
        return code, loaded.get("message") or loaded.get("Message")
    except ValueError:
        pass
    import re

    code_match = re.search(r"<Code>([^<]+)</Code>", text)
    message_match = re.search(r"<Message>([^<]*)</Message>", text)
    return (
        code_match.group(1) if code_match else str(status),
        message_match.group(1) if message_match else None,
    )


def _record(response: Any, result: Any) -> None:
    service = response.service_name
    if service not in MANAGEMENT_SERVICES:
        return
    action = response._get_action() if service != "bedrock-runtime" else "InvokeModel"
    if not action:
        return
    authorization = str(response.headers.get("Authorization", ""))
    bearer = authorization.startswith("Bearer ")
    if bearer:
        who = _bearer_identity(authorization[len("Bearer ") :].strip())
        if who is None:
            return
    else:
        key_id = response.get_access_key()
        who = identity(key_id) or _root_identity(response.current_account, key_id)
    status = result[0] if isinstance(result, tuple) else 200
    body = result[2] if isinstance(result, tuple) and len(result) > 2 else None
    code, message = _error(int(status), body)
    region = _GLOBAL_REGION if service in _GLOBAL_SERVICES else response.region
    if bearer:
        # A short-term key works only in the Region it was signed for.
        region = _key_region(authorization[len("Bearer ") :]) or response.region
    now = _now()
    record: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": who,
        "eventTime": _time(now),
        "eventSource": _EVENT_SOURCES.get(service, f"{service}.amazonaws.com"),
        "eventName": action,
        "awsRegion": region,
        "sourceIPAddress": _source_ip(response),
        "userAgent": str(response.headers.get("User-Agent", "")),
        "requestParameters": _request_parameters(response),
        "responseElements": None,
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": action.startswith(_READ_PREFIXES),
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": who["accountId"],
        "eventCategory": "Management",
    }
    if bearer:
        record["additionalEventData"] = {"callWithBearerToken": True}
    if code:
        record["errorCode"] = code
        if message:
            record["errorMessage"] = message
    with _LOCK:
        _keep(_backend(who["accountId"], region), record)


def _source_ip(response: Any) -> str:
    forwarded = str(response.headers.get("X-Forwarded-For", "")).split(",")[0].strip()
    if forwarded:
        return forwarded
    remote = getattr(getattr(response, "request", None), "remote_addr", None)
    return str(remote) if remote else "127.0.0.1"


def _wrap_dispatch(original: Callable[..., Any]) -> Callable[..., Any]:
    def _dispatch(self: Any, request: Any, full_url: Any = None, headers: Any = None) -> Any:
        result = original(self, request, full_url, headers)
        try:
            _record(self, result)
        except Exception:  # recording must never change what moto answers
            import logging

            logging.getLogger(__name__).exception("sandbox CloudTrail could not record a call")
        return result

    return _dispatch


# --------------------------------------------------------------------------------------------
# LookupEvents


def _exc(code: str, message: str) -> Exception:
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError(code, message)


def _epoch(value: Any, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError) as e:
        raise _exc("ValidationException", f"{name} is not a valid timestamp.") from e


def _attribute(record: dict[str, Any], key: str) -> str | None:
    """An indexed attribute's value in a record (None: the record has none)."""
    who = record["userIdentity"]
    if key == "AccessKeyId":
        return str(who["accessKeyId"]) if who.get("accessKeyId") else None
    return _username(who)


def _matches(record: dict[str, Any], key: str, value: str) -> bool:
    if key in _INDEXED:
        return _attribute(record, key) == value
    if key == "EventId":
        return bool(record["eventID"] == value)
    if key == "EventName":
        return bool(record["eventName"] == value)
    if key == "EventSource":
        return bool(record["eventSource"] == value)
    if key == "ReadOnly":
        return str(record["readOnly"]).lower() == value.lower()
    return False  # ResourceType / ResourceName: this sandbox records no resources


def _summary(record: dict[str, Any]) -> dict[str, Any]:
    who = record["userIdentity"]
    out: dict[str, Any] = {
        "EventId": record["eventID"],
        "EventName": record["eventName"],
        "ReadOnly": str(record["readOnly"]).lower(),
        "EventTime": datetime.strptime(record["eventTime"], "%Y-%m-%dT%H:%M:%SZ")
        .replace(tzinfo=UTC)
        .timestamp(),
        "EventSource": record["eventSource"],
        "Username": _username(who),
        "Resources": [],
        "CloudTrailEvent": json.dumps(record, separators=(",", ":")),
    }
    if who.get("accessKeyId"):
        out["AccessKeyId"] = who["accessKeyId"]
    return out


def _token_for(params: dict[str, Any], offset: int) -> str:
    fingerprint = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    return base64.urlsafe_b64encode(f"{fingerprint}:{offset}".encode()).decode()


def _offset_from(token: str, params: dict[str, Any]) -> int:
    fingerprint = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    try:
        issued_for, _, offset = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if issued_for != fingerprint:
            raise ValueError(token)
        return int(offset)
    except (ValueError, UnicodeError) as e:
        raise _exc(
            "InvalidNextTokenException",
            "A token that is not valid, or a token that was previously used in a request with "
            "different parameters, was specified.",
        ) from e


def _lookup_events(self: Any) -> str:
    body = json.loads(self.body or "{}")
    attributes = body.get("LookupAttributes") or []
    if len(attributes) > 1:
        raise _exc(
            "InvalidLookupAttributesException",
            "You cannot specify more than one lookup attribute.",
        )
    for attribute in attributes:
        if attribute.get("AttributeKey") not in LOOKUP_ATTRIBUTES:
            raise _exc(
                "InvalidLookupAttributesException",
                f"{attribute.get('AttributeKey')} is not a valid lookup attribute.",
            )
    start = _epoch(body.get("StartTime"), "StartTime")
    end = _epoch(body.get("EndTime"), "EndTime")
    if start and end and start > end:
        raise _exc(
            "InvalidTimeRangeException", "Start time must be earlier than or equal to end time."
        )
    max_results = body.get("MaxResults", MAX_RESULTS)
    if not isinstance(max_results, int) or not 1 <= max_results <= MAX_RESULTS:
        raise _exc("InvalidMaxResultsException", f"MaxResults must be between 1 and {MAX_RESULTS}.")
    category = body.get("EventCategory")
    if category not in (None, "insight"):
        raise _exc("InvalidEventCategoryException", f"{category} is not a valid event category.")
    query = {k: v for k, v in body.items() if k != "NextToken"}
    offset = _offset_from(body["NextToken"], query) if body.get("NextToken") else 0

    now = _now()
    oldest = now - RETENTION
    indexed = next((a for a in attributes if a["AttributeKey"] in _INDEXED), None)
    with _LOCK:
        if indexed:
            key = (indexed["AttributeKey"], indexed.get("AttributeValue", ""))
            kept = list(_index_of(self.cloudtrail_backend).get(key, ()))
        else:
            kept = list(_events_of(self.cloudtrail_backend))
    found = []
    if category != "insight":  # no Insights events are generated here
        for record in reversed(kept):  # newest first
            # The attribute first: it rules out nearly every event, and reading a time is
            # what made a lookup slow once a benchmark had recorded tens of thousands.
            if not all(
                _matches(record, a["AttributeKey"], a.get("AttributeValue", "")) for a in attributes
            ):
                continue
            moment = datetime.fromisoformat(record["eventTime"])
            if moment < oldest or (start and moment < start) or (end and moment > end):
                continue
            found.append(record)
    page = found[offset : offset + max_results]
    answer: dict[str, Any] = {"Events": [_summary(r) for r in page]}
    if offset + max_results < len(found):
        answer["NextToken"] = _token_for(query, offset + max_results)
    return json.dumps(answer)


# --------------------------------------------------------------------------------------------
# STS: GetSessionToken and GetAccessKeyInfo


def _get_session_token(self: Any) -> Any:
    from moto.core.responses import ActionResult
    from moto.iam.models import iam_backends
    from moto.iam.utils import random_alphanumeric
    from moto.sts.utils import random_session_token

    from bot.sandbox.iam import _exc as iam_exc

    caller = self.get_access_key()
    who = identity(caller)
    if who is not None and who["type"] != "IAMUser":
        raise iam_exc("AccessDenied", "Cannot call GetSessionToken with session credentials")
    if who is not None and who.get("sessionContext"):
        raise iam_exc("AccessDenied", "Cannot call GetSessionToken with session credentials")
    duration = self._get_int_param("DurationSeconds", 43200)
    low, high = SESSION_TOKEN_SECONDS
    if not low <= duration <= high:
        raise iam_exc(
            "ValidationError",
            f"1 validation error detected: Value '{duration}' at 'durationSeconds' failed to "
            f"satisfy constraint: Member must have value between {low} and {high}",
        )
    now = _now()
    if who is None:
        # A caller moto does not know (its default test credentials): moto's own answer.
        return _ORIGINAL_GET_SESSION_TOKEN(self)
    account_id = who["accountId"]
    iam = iam_backends[account_id]["aws"]
    key = iam.create_temp_access_key()
    session = _UserSession(
        access_key_id=key.access_key_id,
        account_id=account_id,
        user_name=who["userName"],
        user_arn=who["arn"],
        user_id=who["principalId"],
        created=now,
        expiration=now + timedelta(seconds=duration),
    )
    with _LOCK:
        from moto.sts.models import sts_backends

        _sessions(sts_backends[account_id]["aws"]).append(session)
    return ActionResult(
        {
            "Credentials": {
                "AccessKeyId": key.access_key_id,
                "SecretAccessKey": random_alphanumeric(40),
                "SessionToken": random_session_token(),
                "Expiration": session.expiration,
            }
        }
    )


_ORIGINAL_GET_SESSION_TOKEN: Callable[[Any], Any] = lambda self: None  # noqa: E731


def _wrap_access_key_info(original: Callable[..., Any]) -> Callable[..., Any]:
    def get_access_key_info(self: Any, access_key_id: str) -> dict[str, str]:
        who = identity(access_key_id)
        if who is not None:
            return {"Account": who["accountId"]}
        return dict(original(self, access_key_id))

    return get_access_key_info


# --------------------------------------------------------------------------------------------
# Bearer-token calls


def bearer_token_call(
    key: str,
    *,
    model_id: str = "anthropic.claude-3-haiku-20240307-v1:0",
    region: str = _GLOBAL_REGION,
    source_ip: str | None = None,
    user_agent: str | None = None,
    endpoint_url: str | None = None,
) -> int:
    """Use a Bedrock API key as a client would: InvokeModel with `Authorization: Bearer <key>`,
    through the real boto3 client (moto in-process, or the server at `endpoint_url`). Returns
    the HTTP status. `source_ip` is sent as X-Forwarded-For so the record shows that address."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    install()
    extra = f" {user_agent}" if user_agent else ""
    # botocore's own bearer auth refuses plain HTTP (the moto server on loopback); the header it
    # would send is set here instead, on an unsigned request.
    client = boto3.Session(region_name=region).client(
        "bedrock-runtime",
        endpoint_url=endpoint_url,
        config=Config(signature_version=UNSIGNED, user_agent_extra=extra or None),
    )
    headers = {"Authorization": f"Bearer {key}"}
    if source_ip:
        headers["X-Forwarded-For"] = source_ip

    def add_headers(request: Any, **_: Any) -> None:
        for name, value in headers.items():
            request.headers[name] = value

    client.meta.events.register("request-created.bedrock-runtime", add_headers)
    answer = client.invoke_model(modelId=model_id, body=json.dumps({"prompt": "hello"}))
    return int(answer["ResponseMetadata"]["HTTPStatusCode"])


def _wrap_infer_host(original: Callable[..., Any]) -> Callable[..., Any]:
    # moto's server picks the service from a request's SigV4 scope; a bearer-token request has
    # none, and AWS routes it by host name (bedrock-runtime.<region>.amazonaws.com).
    def infer_service_region_host(self: Any, environ: dict[str, Any], path: str) -> Any:
        auth = str(environ.get("HTTP_AUTHORIZATION", ""))
        if auth.startswith("Bearer "):
            return f"bedrock-runtime.{_bearer_region(auth[len('Bearer ') :])}.amazonaws.com"
        return original(self, environ, path)

    return infer_service_region_host


def _bearer_region(token: str) -> str:
    return _key_region(token) or _GLOBAL_REGION


def _key_region(token: str) -> str | None:
    from bot import keys
    from bot.errors import InvalidKey

    try:
        return keys.decode(token.strip()).region
    except InvalidKey:
        return None


# --------------------------------------------------------------------------------------------
# Installation


def install() -> None:
    """Add recording, LookupEvents and the STS fixes to moto. Safe to call any number of times."""
    global _ORIGINAL_GET_SESSION_TOKEN
    from moto.cloudtrail.responses import CloudTrailResponse
    from moto.core.responses import BaseResponse
    from moto.sts.models import STSBackend
    from moto.sts.responses import TokenResponse

    with _LOCK:
        if BaseResponse.__dict__.get(_INSTALLED_ATTR):
            return
        _ORIGINAL_GET_SESSION_TOKEN = TokenResponse.get_session_token
        patches: list[tuple[type, str, object]] = [
            (BaseResponse, "_dispatch", _wrap_dispatch(BaseResponse._dispatch)),
            (CloudTrailResponse, "lookup_events", _lookup_events),
            (TokenResponse, "get_session_token", _get_session_token),
            (
                STSBackend,
                "get_access_key_info",
                _wrap_access_key_info(STSBackend.get_access_key_info),
            ),
            (BaseResponse, _INSTALLED_ATTR, True),
        ]
        try:
            from moto.moto_server.werkzeug_app import DomainDispatcherApplication
        except ImportError:  # moto without its server extra: in-process only
            pass
        else:
            original = DomainDispatcherApplication.infer_service_region_host
            patches.append(
                (
                    DomainDispatcherApplication,
                    "infer_service_region_host",
                    _wrap_infer_host(original),
                )
            )
        for cls, name, value in patches:
            setattr(cls, name, value)
