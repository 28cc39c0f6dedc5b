"""IAM service-specific credentials for moto, and sandbox-only helpers for tests and the demo.

moto 5.2 implements neither CreateServiceSpecificCredential nor its four siblings, and those are
exactly the calls a Bedrock key revocation makes. `install()` adds them to moto the way moto
itself is built: state and rules live on the per-account `IAMBackend` (each credential belongs to
its moto `User`, so deleting or resetting users and accounts takes the credentials with them), and
a thin layer on `IamResponse` reads the query parameters and hands a plain dict to moto's own
botocore-model serializer, so the XML (result wrappers, member names, timestamps, error shapes
and HTTP statuses) is what the botocore IAM model says it is.

Because the patches are on classes, they serve both `moto.mock_aws()` in-process and a
`ThreadedMotoServer` running in the same process, which the real boto3 client reaches over HTTP.

Sandbox-only helpers, which are not IAM API: `expire_credential` (backdate a key's expiry) and
`inject_error` / `clear_faults` (make any IAM, STS or CloudTrail operation answer with a genuine
error document, e.g. AccessDenied or Throttling). `reset()` and moto's own reset (`mock_aws`
start/stop, `POST /moto-api/reset`) clear credentials and faults alike.

Behaviour chosen where AWS does not document it (each also noted where it is implemented):
- Reset of an expired key: `InvalidInput` (400). IAM only says it cannot be done.
- `AllUsers=true` together with `UserName`: `InvalidInput` (400), IAM's code for a request whose
  parameters are individually valid but contradict each other.
- `Status=Expired` in Update: `InvalidInput` (400); the model lists the value but it is read-only.
- `CredentialAgeDays` for a service without long-term API keys: `InvalidInput` (400).
- Model constraint violations (age 1..36600, MaxItems 1..1000, a bad Status): `ValidationError`,
  worded the way AWS words them ("1 validation error detected: ...").
- An omitted `UserName` resolves to the IAM user owning the caller's access key; moto's default
  test credentials belong to no user, so IAM's own answer for non-user callers applies:
  `ValidationError` "Must specify userName when calling with non-User credentials".
- The alias counter `+N` never goes back, so an old leaked key's alias never names a new key.
"""

from __future__ import annotations

import base64
import functools
import itertools
import json
import logging
import secrets
import string
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

from bot.sandbox import cloudtrail, dynamodb

__all__ = [
    "API_KEY_SERVICES",
    "BEDROCK",
    "DEFAULT_ACCOUNT_ID",
    "SUPPORTED_SERVICES",
    "Fault",
    "clear_faults",
    "expire_credential",
    "faults",
    "inject_error",
    "install",
    "mock_iam",
    "reset",
    "sandbox_server",
]

BEDROCK = "bedrock.amazonaws.com"
# Services whose service-specific credentials are "long-term API keys": they take
# CredentialAgeDays and carry ServiceCredentialAlias/ServiceCredentialSecret instead of
# ServiceUserName/ServicePassword (IAM API reference, CreateServiceSpecificCredential).
API_KEY_SERVICES = frozenset({BEDROCK, "logs.amazonaws.com"})
SUPPORTED_SERVICES = API_KEY_SERVICES | {"codecommit.amazonaws.com", "cassandra.amazonaws.com"}
DEFAULT_ACCOUNT_ID = "123456789012"  # moto's default account

MAX_PER_USER_PER_SERVICE = 2
MIN_AGE_DAYS, MAX_AGE_DAYS = 1, 36600
DEFAULT_MAX_ITEMS, MAX_MAX_ITEMS = 100, 1000

_ID_ALPHABET = string.ascii_uppercase + string.digits
_PARTITION = "aws"
_NAMESPACES = {
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
}
_DEFAULT_STATUS = {
    "AccessDenied": 403,
    "AccessDeniedException": 403,
    "NoSuchEntity": 404,
    "LimitExceeded": 409,
    "EntityAlreadyExists": 409,
    "DeleteConflict": 409,
    "ConcurrentModification": 409,
    "ServiceFailure": 500,
    "InternalFailure": 500,
    "ServiceUnavailable": 503,
}

# moto's server answers requests on several threads; one lock keeps "at most two per service"
# and the fault counters exact when the bot's executor races itself.
_LOCK = threading.RLock()
_SEQUENCE = itertools.count(1)
_STATE_ATTR = "sandbox_service_specific_credentials"
_INSTALLED_ATTR = "_sandbox_iam_installed"


# --------------------------------------------------------------------------------------------
# State: one record per credential, kept on the moto User it belongs to.


@dataclass
class _Credential:
    credential_id: str
    user_name: str
    service_name: str
    public_name: str  # alias for API-key services, ServiceUserName for the others
    secret: str
    create_date: datetime
    expiration_date: datetime | None
    status: str  # what Update set: Active | Inactive; "Expired" is derived at read time
    sequence: int  # creation order across the account: the stable sort key that markers encode

    def current_status(self, now: datetime) -> str:
        if self.expiration_date is not None and self.expiration_date <= now:
            return "Expired"
        return self.status

    def metadata(self, now: datetime) -> dict[str, Any]:
        out: dict[str, Any] = {
            "UserName": self.user_name,
            "Status": self.current_status(now),
            "CreateDate": self.create_date,
            "ServiceSpecificCredentialId": self.credential_id,
            "ServiceName": self.service_name,
        }
        if self.service_name in API_KEY_SERVICES:
            out["ServiceCredentialAlias"] = self.public_name
        else:
            out["ServiceUserName"] = self.public_name
        if self.expiration_date is not None:
            out["ExpirationDate"] = self.expiration_date
        return out

    def with_secret(self, now: datetime) -> dict[str, Any]:
        out = self.metadata(now)
        if self.service_name in API_KEY_SERVICES:
            out["ServiceCredentialSecret"] = self.secret
        else:
            out["ServicePassword"] = self.secret
        return out


@dataclass
class _UserState:
    credentials: list[_Credential] = field(default_factory=list)
    names_issued: dict[str, int] = field(default_factory=dict)  # per service, never decreases


def _now() -> datetime:
    # IAM reports whole seconds.
    return datetime.now(UTC).replace(microsecond=0)


def _state(user: Any) -> _UserState:
    state = getattr(user, _STATE_ATTR, None)
    if state is None:
        state = _UserState()
        setattr(user, _STATE_ATTR, state)
    return state


def _new_credential_id(backend: Any) -> str:
    taken = {c.credential_id for c in _all_credentials(backend)}
    while True:
        candidate = "ACCA" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(17))
        if candidate not in taken:
            return candidate


def _new_secret(service_name: str, public_name: str) -> str:
    raw = base64.b64encode(secrets.token_bytes(30)).decode()
    if service_name == BEDROCK:
        # A Bedrock long-term key is the whole bearer token: ABSK + base64("<alias>:<secret>").
        return "ABSK" + base64.b64encode(f"{public_name}:{raw}".encode()).decode()
    return raw


def _all_credentials(backend: Any) -> list[_Credential]:
    creds: list[_Credential] = []
    for user in list(backend.users.values()):
        creds.extend(_state(user).credentials)
    creds.sort(key=lambda c: c.sequence)
    return creds


# --------------------------------------------------------------------------------------------
# Errors, shaped as moto's ServiceException so its serializer finds the IAM model's error shape.


def _exc(code: str, message: str) -> Exception:
    from moto.iam.exceptions import IAMException

    return IAMException(code, message)


def _no_such_credential(credential_id: str) -> Exception:
    return _exc(
        "NoSuchEntity", f"The Service Specific Credential with id {credential_id} cannot be found."
    )


def _validation(value: object, member: str, constraint: str) -> Exception:
    return _exc(
        "ValidationError",
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
        f"constraint: {constraint}",
    )


def _require_supported(service_name: str) -> None:
    if service_name not in SUPPORTED_SERVICES:
        raise _exc(
            "NotSupportedService",
            f"Service {service_name} is not supported for service specific credentials.",
        )


# --------------------------------------------------------------------------------------------
# Backend: the five operations, attached to moto's IAMBackend by install().


def _backend_create(
    self: Any, user_name: str, service_name: str, credential_age_days: int | None
) -> dict[str, Any]:
    if credential_age_days is not None and not (
        MIN_AGE_DAYS <= credential_age_days <= MAX_AGE_DAYS
    ):
        raise _validation(
            credential_age_days,
            "credentialAgeDays",
            f"Member must have value between {MIN_AGE_DAYS} and {MAX_AGE_DAYS}",
        )
    _require_supported(service_name)
    if credential_age_days is not None and service_name not in API_KEY_SERVICES:
        # Not documented as an error code; InvalidInput is IAM's code for a meaningless field.
        raise _exc(
            "InvalidInput", f"CredentialAgeDays is not supported for service {service_name}."
        )
    with _LOCK:
        user = self.get_user(user_name)
        state = _state(user)
        same_service = [c for c in state.credentials if c.service_name == service_name]
        if len(same_service) >= MAX_PER_USER_PER_SERVICE:
            raise _exc(
                "LimitExceeded",
                "Cannot exceed quota for ServiceSpecificCredentialsPerUserPerService: "
                f"{MAX_PER_USER_PER_SERVICE}",
            )
        issued = state.names_issued.get(service_name, 0)
        state.names_issued[service_name] = issued + 1
        suffix = f"+{issued}" if issued else ""
        public_name = f"{user_name}{suffix}-at-{self.account_id}"
        now = _now()
        cred = _Credential(
            credential_id=_new_credential_id(self),
            user_name=user_name,
            service_name=service_name,
            public_name=public_name,
            secret=_new_secret(service_name, public_name),
            create_date=now,
            expiration_date=(
                now + timedelta(days=credential_age_days) if credential_age_days else None
            ),
            status="Active",
            sequence=next(_SEQUENCE),
        )
        state.credentials.append(cred)
        return cred.with_secret(now)


def _encode_marker(sequence: int) -> str:
    return base64.urlsafe_b64encode(f"ssc:{sequence}".encode()).decode()


def _decode_marker(marker: str) -> int:
    try:
        prefix, _, number = base64.urlsafe_b64decode(marker.encode()).decode().partition(":")
        if prefix != "ssc":
            raise ValueError(marker)
        return int(number)
    except (ValueError, UnicodeError) as e:
        raise _exc("InvalidInput", "Invalid Marker.") from e


def _backend_list(
    self: Any,
    user_name: str | None,
    service_name: str | None,
    all_users: bool,
    marker: str | None,
    max_items: int | None,
) -> dict[str, Any]:
    if all_users and user_name:
        raise _exc("InvalidInput", "AllUsers cannot be specified together with UserName.")
    if max_items is not None and not (1 <= max_items <= MAX_MAX_ITEMS):
        raise _validation(
            max_items, "maxItems", f"Member must have value between 1 and {MAX_MAX_ITEMS}"
        )
    if service_name is not None:
        _require_supported(service_name)
    with _LOCK:
        if all_users:
            creds = _all_credentials(self)
        else:
            if user_name is None:
                raise _exc("ValidationError", "UserName is required.")
            creds = list(_state(self.get_user(user_name)).credentials)
        if service_name is not None:
            creds = [c for c in creds if c.service_name == service_name]
        creds.sort(key=lambda c: c.sequence)
        if marker:
            after = _decode_marker(marker)
            creds = [c for c in creds if c.sequence > after]
        limit = max_items or DEFAULT_MAX_ITEMS
        page, rest = creds[:limit], creds[limit:]
        now = _now()
        result: dict[str, Any] = {
            "ServiceSpecificCredentials": [c.metadata(now) for c in page],
            "IsTruncated": bool(rest),
        }
        if rest:
            result["Marker"] = _encode_marker(page[-1].sequence)
        return result


def _find(self: Any, user_name: str, credential_id: str) -> tuple[_UserState, _Credential]:
    state = _state(self.get_user(user_name))
    for cred in state.credentials:
        if cred.credential_id == credential_id:
            return state, cred
    raise _no_such_credential(credential_id)


def _backend_update(self: Any, user_name: str, credential_id: str, status: str) -> None:
    if status == "Expired":
        # Listed in the model's enum but only IAM sets it; InvalidInput as for other bad values.
        raise _exc("InvalidInput", "Status Expired cannot be set; it follows ExpirationDate.")
    if status not in ("Active", "Inactive"):
        raise _validation(
            status, "status", "Member must satisfy enum value set: [Active, Inactive, Expired]"
        )
    with _LOCK:
        _, cred = _find(self, user_name, credential_id)
        cred.status = status


def _backend_reset(self: Any, user_name: str, credential_id: str) -> dict[str, Any]:
    with _LOCK:
        _, cred = _find(self, user_name, credential_id)
        now = _now()
        if cred.current_status(now) == "Expired":
            # IAM documents that an expired key cannot be reset, not the code it answers with.
            raise _exc(
                "InvalidInput",
                f"The Service Specific Credential {credential_id} has expired and cannot be "
                "reset; delete it instead.",
            )
        cred.secret = _new_secret(cred.service_name, cred.public_name)
        return cred.with_secret(now)


def _backend_delete(self: Any, user_name: str, credential_id: str) -> None:
    with _LOCK:
        state, cred = _find(self, user_name, credential_id)
        state.credentials.remove(cred)


def _wrap_delete_user(original: Callable[..., Any]) -> Callable[..., Any]:
    def delete_user(self: Any, user_name: str) -> Any:
        user = self.get_user(user_name)
        if _state(user).credentials:
            # IAM refuses to delete a user that still owns sub-resources; moto already does
            # so for policies, with the same code.
            raise _exc(
                "DeleteConflict",
                "Cannot delete entity, must delete service specific credentials first.",
            )
        return original(self, user_name)

    return delete_user


# --------------------------------------------------------------------------------------------
# Response layer: query parameters in, a dict out; moto serializes it from the botocore model.


def _caller_user_name(response: Any) -> str:
    from moto.iam.exceptions import NotFoundException

    try:
        found = response.backend.get_access_key_last_used(response.get_access_key())
    except NotFoundException as e:
        raise _exc(
            "ValidationError", "Must specify userName when calling with non-User credentials"
        ) from e
    return str(found["user_name"])


def _user_param(response: Any) -> str:
    name = response._get_param("UserName")
    return str(name) if name else _caller_user_name(response)


def _int_param(response: Any, name: str) -> int | None:
    value = response._get_param(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as e:
        raise _validation(value, name[0].lower() + name[1:], "Member must be an integer") from e


def _bool_param(response: Any, name: str) -> bool:
    value = response._get_param(name)
    return str(value).lower() == "true" if value is not None else False


def _resp_create(self: Any) -> Any:
    from moto.core.responses import ActionResult

    cred = self.backend.create_service_specific_credential(
        user_name=self._get_param("UserName"),
        service_name=self._get_param("ServiceName"),
        credential_age_days=_int_param(self, "CredentialAgeDays"),
    )
    return ActionResult({"ServiceSpecificCredential": cred})


def _resp_list(self: Any) -> Any:
    from moto.core.responses import ActionResult

    all_users = _bool_param(self, "AllUsers")
    user_name = self._get_param("UserName") or None
    if not all_users and user_name is None:
        user_name = _caller_user_name(self)
    return ActionResult(
        self.backend.list_service_specific_credentials(
            user_name=user_name,
            service_name=self._get_param("ServiceName") or None,
            all_users=all_users,
            marker=self._get_param("Marker") or None,
            max_items=_int_param(self, "MaxItems"),
        )
    )


def _resp_update(self: Any) -> Any:
    from moto.core.responses import EmptyResult

    self.backend.update_service_specific_credential(
        user_name=_user_param(self),
        credential_id=self._get_param("ServiceSpecificCredentialId"),
        status=self._get_param("Status"),
    )
    return EmptyResult()


def _resp_reset(self: Any) -> Any:
    from moto.core.responses import ActionResult

    cred = self.backend.reset_service_specific_credential(
        user_name=_user_param(self),
        credential_id=self._get_param("ServiceSpecificCredentialId"),
    )
    return ActionResult({"ServiceSpecificCredential": cred})


def _resp_delete(self: Any) -> Any:
    from moto.core.responses import EmptyResult

    self.backend.delete_service_specific_credential(
        user_name=_user_param(self),
        credential_id=self._get_param("ServiceSpecificCredentialId"),
    )
    return EmptyResult()


# --------------------------------------------------------------------------------------------
# Fault injection: answered before moto runs the action, for IAM and STS alike.


@dataclass
class Fault:
    """One injected error. `remaining` is None for "every matching call"."""

    operation: str
    code: str
    message: str
    status: int
    service: str | None = None
    when: Mapping[str, str] = field(default_factory=dict)
    remaining: int | None = 1
    hits: int = 0


_FAULTS: list[Fault] = []


def inject_error(
    operation: str,
    code: str = "AccessDenied",
    message: str | None = None,
    status: int | None = None,
    *,
    times: int | None = 1,
    service: str | None = None,
    when: Mapping[str, str] | None = None,
) -> Fault:
    """Make the next `times` calls of `operation` (None: all of them) fail with an IAM error.

    `operation` is the API name ("PutRolePolicy", "GetCallerIdentity", "LookupEvents");
    `service` ("iam"/"sts"/"cloudtrail") narrows it; `when` narrows it to calls whose request
    parameters have these values, e.g. `{"UserName": "alice"}`. The status defaults to what
    IAM uses for the code (403 for AccessDenied, 409 for LimitExceeded, ..., 400 otherwise,
    which is right for Throttling).
    Every moto reset clears faults, and `mock_aws` resets when it starts: inject inside it.
    """
    if times is not None and times < 1:
        raise ValueError("times must be at least 1, or None for every call")
    install()
    fault = Fault(
        operation=operation,
        code=code,
        message=message or f"Injected fault: {code} on {operation}.",
        status=status or _DEFAULT_STATUS.get(code, 400),
        service=service,
        when=dict(when or {}),
        remaining=times,
    )
    with _LOCK:
        _FAULTS.append(fault)
    return fault


def clear_faults() -> None:
    """Forget every injected error, release every hold, zero the call counts and the latency."""
    with _LOCK:
        _FAULTS.clear()
        holds = list(_HOLDS)
        _SEEN.clear()
        _LATENCY[0] = 0.0
    for held in holds:
        held.release()


def faults() -> list[Fault]:
    """The injected errors still armed, oldest first (the live objects: `hits` keeps counting)."""
    with _LOCK:
        return list(_FAULTS)


def _take_fault(response: Any) -> Fault | None:
    action = response._get_action()
    service = response.service_name
    with _LOCK:
        for fault in _FAULTS:
            if fault.operation != action or fault.service not in (None, service):
                continue
            if any(str(response._get_param(k)) != v for k, v in fault.when.items()):
                continue
            fault.hits += 1
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining == 0:
                    _FAULTS.remove(fault)
            return fault
    return None


def _error_document(service: str, fault: Fault, request_id: str) -> str:
    fault_type = "Sender" if fault.status < 500 else "Receiver"
    namespace = _NAMESPACES.get(service, _NAMESPACES["iam"])
    return (
        f'<ErrorResponse xmlns="{namespace}">'
        f"<Error><Type>{fault_type}</Type><Code>{escape(fault.code)}</Code>"
        f"<Message>{escape(fault.message)}</Message></Error>"
        f"<RequestId>{request_id}</RequestId>"
        "</ErrorResponse>"
    )


# Services speaking a JSON protocol: their errors are {"__type", "message"} documents.
_JSON_SERVICES = frozenset({"cloudtrail"})


class Hold:
    """Calls of one operation wait, inside IAM, until `release()`: an IAM call in flight for as
    long as a test needs (to kill the process that made it, say). The call then goes on and
    changes IAM as usual, whether or not its caller is still there to read the answer."""

    def __init__(self, operation: str, timeout: float) -> None:
        self.operation = operation
        self.timeout = timeout
        self.entered = threading.Event()  # set when the first held call arrives
        self._released = threading.Event()

    def release(self) -> None:
        self._released.set()
        with _LOCK:
            if self in _HOLDS:
                _HOLDS.remove(self)

    def wait_here(self) -> None:
        self.entered.set()
        self._released.wait(self.timeout)


_HOLDS: list[Hold] = []
_SEEN: dict[str, int] = {}  # operation -> calls IAM/STS received, faults and holds included


def hold(operation: str, *, timeout: float = 120.0) -> Hold:
    """Hold every call of `operation` in IAM (or STS) until the returned hold is released (or
    `timeout` seconds pass, so a forgotten hold cannot hang a server)."""
    install()
    held = Hold(operation, timeout)
    with _LOCK:
        _HOLDS.append(held)
    return held


_LATENCY: list[float] = [0.0]  # seconds every IAM/STS/CloudTrail call takes before answering


def set_latency(seconds: float) -> None:
    """Make every call IAM (or STS, CloudTrail) receives take `seconds` before it is handled,
    standing in for the real service's latency in benchmarks. 0 (the default) is moto's own."""
    if seconds < 0:
        raise ValueError("latency cannot be negative")
    with _LOCK:
        _LATENCY[0] = seconds


def seen(operation: str) -> int:
    """How many calls of `operation` IAM (or STS) has received since the last reset, as its own
    request log would count them: what the caller did, whatever became of the answers."""
    with _LOCK:
        return _SEEN.get(operation, 0)


@dataclass(frozen=True)
class AwsCall:
    """One AWS call as the sandbox received it (what CloudTrail would have logged)."""

    service: str
    operation: str


_CALLS: list[AwsCall] = []


def calls() -> list[AwsCall]:
    """Every IAM, STS and CloudTrail call received since the last reset, oldest first: lets a
    test show that something made no AWS call at all."""
    with _LOCK:
        return list(_CALLS)


def _wrap_call_action(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def call_action(self: Any) -> Any:
        action = self._get_action()
        with _LOCK:
            _SEEN[action] = _SEEN.get(action, 0) + 1
            _CALLS.append(AwsCall(self.service_name, action))
            held = next((h for h in _HOLDS if h.operation == action), None)
            latency = _LATENCY[0]
        if held is not None:
            held.wait_here()
        if latency:
            time.sleep(latency)  # this request's own server thread, as IAM's latency would
        fault = _take_fault(self)
        if fault is None:
            return original(self)
        request_id = str(uuid.uuid4())
        if self.service_name in _JSON_SERVICES:
            headers = {
                "Content-Type": "application/x-amz-json-1.1",
                "x-amzn-RequestId": request_id,
                "x-amzn-ErrorType": fault.code,
            }
            body = json.dumps({"__type": fault.code, "message": fault.message})
            return fault.status, headers, body
        headers = {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}
        return fault.status, headers, _error_document(self.service_name, fault, request_id)

    return call_action


# --------------------------------------------------------------------------------------------
# Installation and state


def install() -> None:
    """Add the five operations and fault injection to moto. Safe to call any number of times."""
    from moto.cloudtrail.responses import CloudTrailResponse
    from moto.core.base_backend import BackendDict
    from moto.iam.models import IAMBackend
    from moto.iam.responses import IamResponse
    from moto.sts.responses import TokenResponse

    # The store's DynamoDB tests and the multi-replica tests run on the same moto: give its
    # conditional writes DynamoDB's atomicity (see bot/sandbox/dynamodb.py).
    dynamodb.install()
    # Event history (LookupEvents) and the STS answers that say who holds an access key.
    cloudtrail.install()
    with _LOCK:
        if IAMBackend.__dict__.get(_INSTALLED_ATTR):
            return
        # Every moto reset (mock_aws start/stop, POST /moto-api/reset) funnels through
        # BackendDict.reset; credentials go with the users, faults must be dropped explicitly.
        original_reset = BackendDict.reset

        def reset_all(cls: Any) -> None:
            original_reset()
            clear_faults()
            with _LOCK:
                _CALLS.clear()

        patches: list[tuple[type, str, object]] = [
            (IAMBackend, "create_service_specific_credential", _backend_create),
            (IAMBackend, "list_service_specific_credentials", _backend_list),
            (IAMBackend, "update_service_specific_credential", _backend_update),
            (IAMBackend, "reset_service_specific_credential", _backend_reset),
            (IAMBackend, "delete_service_specific_credential", _backend_delete),
            (IAMBackend, "delete_user", _wrap_delete_user(IAMBackend.delete_user)),
            # moto dispatches on camelcase_to_underscores(Action) among the class's functions.
            (IamResponse, "create_service_specific_credential", _resp_create),
            (IamResponse, "list_service_specific_credentials", _resp_list),
            (IamResponse, "update_service_specific_credential", _resp_update),
            (IamResponse, "reset_service_specific_credential", _resp_reset),
            (IamResponse, "delete_service_specific_credential", _resp_delete),
            (IamResponse, "call_action", _wrap_call_action(IamResponse.call_action)),
            (TokenResponse, "call_action", _wrap_call_action(TokenResponse.call_action)),
            (
                CloudTrailResponse,
                "call_action",
                _wrap_call_action(CloudTrailResponse.call_action),
            ),
            (BackendDict, "reset", classmethod(reset_all)),
            (IAMBackend, _INSTALLED_ATTR, True),
        ]
        for cls, name, value in patches:
            setattr(cls, name, value)


def reset() -> None:
    """Wipe every moto backend (users, roles, credentials ...) and every injected fault."""
    install()
    from moto.core.base_backend import BackendDict

    BackendDict.reset()


def expire_credential(
    account_id: str, credential_id: str, *, at: datetime | None = None
) -> datetime:
    """Backdate a credential's ExpirationDate (default: one second ago) so IAM lists it Expired."""
    install()
    from moto.iam.models import iam_backends

    when = at or _now() - timedelta(seconds=1)
    # A naive time is taken as UTC, as IAM's own timestamps are.
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    backend = iam_backends[account_id][_PARTITION]
    with _LOCK:
        for cred in _all_credentials(backend):
            if cred.credential_id == credential_id:
                cred.expiration_date = when
                return when
    raise KeyError(f"no service-specific credential {credential_id} in account {account_id}")


@contextmanager
def mock_iam() -> Iterator[None]:
    """In-process: moto's mock_aws with the credential operations installed."""
    install()
    from moto import mock_aws

    with mock_aws():
        yield


def _list_moto_modules_once() -> None:
    """moto's server lists its package directory for every request, under the one lock all
    request threads share: under a stream of calls that made the server the slowest part of a
    benchmark. The directory does not change while the server runs; read it once."""
    from moto import backends

    if not isinstance(backends.list_of_moto_modules, functools.partial):
        modules = tuple(backends.list_of_moto_modules())
        backends.list_of_moto_modules = functools.partial(iter, modules)


@contextmanager
def sandbox_server(*, quiet: bool = True) -> Iterator[str]:
    """Start a moto server on a free local port; yield its endpoint URL; stop it afterwards.

    State is moto's process-wide state: call `reset()` (or POST `<url>/moto-api/reset`)
    between tests that share one server. `quiet` keeps werkzeug's per-request lines out of
    the demo's output (it lowers that logger process-wide).
    """
    install()
    from moto.server import ThreadedMotoServer

    if quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    _list_moto_modules_once()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()
