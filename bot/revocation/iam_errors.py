"""AWS errors in plain words, with IAM's code and request id kept for CloudTrail.

Messages are built from fixed sentences plus names we already validated (user, role, credential
id, operation). botocore's own error text is included only for AWS service errors, whose messages
name resources, never secrets; client-side exceptions (parameter validation and the like) can
echo parameter values, so their text is never used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from bot.config import AccountConfig
from bot.errors import AwsError, NotFound

THROTTLING_CODES = frozenset(
    {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"}
)
ACCESS_DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess"}
)


@dataclass(frozen=True)
class Explained:
    code: str
    message: str
    request_id: str | None


def request_id_of(response: Any) -> str | None:
    """IAM's request id from a boto3 response or a ClientError's response."""
    if not isinstance(response, dict):
        return None
    meta = response.get("ResponseMetadata")
    if isinstance(meta, dict):
        rid = meta.get("RequestId")
        if isinstance(rid, str) and rid:
            return rid
    return None


def error_code(exc: BaseException) -> str | None:
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


def _aws_message(exc: ClientError) -> str:
    text = str(exc.response.get("Error", {}).get("Message") or "").strip()
    return text[:300]


def explain(
    exc: BaseException,
    *,
    operation: str,
    resource: str,
    service: str = "iam",
    caller_arn: str | None = None,
) -> Explained:
    """What went wrong, for a person reading the thread.

    `resource` is how people name the thing acted on ("user alice", "role ci-runner").
    """
    action = f"{service}:{operation}"
    who = f"The bot's AWS identity ({caller_arn})" if caller_arn else "The bot's AWS identity"
    if isinstance(exc, ClientError):
        code = error_code(exc) or "Unknown"
        rid = request_id_of(exc.response)
        aws = _aws_message(exc)
        said = f" AWS said: {aws}" if aws else ""
        if code in ACCESS_DENIED_CODES:
            msg = f"{who} lacks {action} on {resource}; grant it to the bot's role and retry.{said}"
        elif code == "NoSuchEntity" or code == "ResourceNotFoundException":
            msg = f"IAM says {resource} does not exist (any more); {action} was not done.{said}"
        elif code == "LimitExceeded" or code == "LimitExceededException":
            msg = f"IAM refused {action} on {resource}: a quota would be exceeded.{said}"
        elif code in THROTTLING_CODES:
            msg = (
                f"AWS throttled {action} on {resource} and it still failed after retries; "
                "try again in a minute."
            )
        elif code in ("ServiceFailure", "InternalFailure", "ServiceUnavailable"):
            msg = f"AWS had an internal error on {action} for {resource}; try again.{said}"
        elif code == "UnmodifiableEntity":
            msg = f"IAM does not allow changing {resource} (it is managed by AWS).{said}"
        elif code == "InvalidClientTokenId" or code == "ExpiredToken":
            msg = f"The bot's AWS credentials were rejected ({code}); check its configuration."
        else:
            msg = f"{action} on {resource} failed with {code}.{said}"
        return Explained(code=code, message=msg, request_id=rid)
    if isinstance(exc, NoCredentialsError):
        return Explained(
            code="NoCredentials",
            message=(
                "The bot has no AWS credentials. A Bedrock API key (AWS_BEARER_TOKEN_BEDROCK) "
                "cannot sign IAM calls; configure a role or access keys."
            ),
            request_id=None,
        )
    if isinstance(exc, ConnectTimeoutError | ReadTimeoutError):
        return Explained(
            code="Timeout",
            message=f"{action} on {resource} timed out; AWS did not answer in time.",
            request_id=None,
        )
    if isinstance(exc, EndpointConnectionError):
        return Explained(
            code="ConnectionError",
            message=f"Could not reach AWS for {action} on {resource}.",
            request_id=None,
        )
    if isinstance(exc, BotoCoreError):
        return Explained(
            code=type(exc).__name__,
            message=f"{action} on {resource} failed before AWS answered ({type(exc).__name__}).",
            request_id=None,
        )
    return Explained(
        code=type(exc).__name__,
        message=f"{action} on {resource} failed unexpectedly ({type(exc).__name__}).",
        request_id=None,
    )


def as_domain_error(
    exc: BaseException,
    *,
    operation: str,
    resource: str,
    not_found: str | None = None,
    service: str = "iam",
    caller_arn: str | None = None,
) -> NotFound | AwsError:
    """The exception resolution raises: NotFound for NoSuchEntity, AwsError otherwise."""
    code = error_code(exc)
    if code in ("NoSuchEntity", "ResourceNotFoundException"):
        return NotFound(not_found or f"{resource[:1].upper()}{resource[1:]} does not exist.")
    e = explain(exc, operation=operation, resource=resource, service=service, caller_arn=caller_arn)
    return AwsError(e.message, code=e.code, request_id=e.request_id)


def assume_role_failure(
    exc: BaseException, account: str | None, config: AccountConfig | None
) -> AwsError | None:
    """`exc` in plain words when it is AssumeRole into the configured `account` failing.

    The role is assumed when a call first needs its credentials, so the ClientError comes out of
    that call (GetCallerIdentity, an IAM read or write) and would otherwise be blamed on it.
    Names the account and the role, never the external id. None for any other error.
    """
    if config is None or not isinstance(exc, ClientError) or exc.operation_name != "AssumeRole":
        return None
    role = f"role {config.role_arn}"
    where = f"account {account!r} ({config.account_id})"
    e = explain(exc, operation="AssumeRole", resource=role, service="sts")
    if e.code not in ACCESS_DENIED_CODES:
        return AwsError(
            f"The bot could not assume {role} to act in {where}: {e.message}",
            code=e.code,
            request_id=e.request_id,
        )
    external = " and requires the external id set in REVOKER_ACCOUNTS" if config.external_id else ""
    said = _aws_message(exc)
    return AwsError(
        f"The bot could not assume {role} to act in {where}: AWS denied sts:AssumeRole. Check "
        f"that the role exists, that its trust policy trusts the bot's role{external}, and that "
        "the bot's role may call sts:AssumeRole on it." + (f" AWS said: {said}" if said else ""),
        code=e.code,
        request_id=e.request_id,
    )
