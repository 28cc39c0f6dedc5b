"""AWS credentials, the bot's identity, and IAM read access in every configured account."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Mapping

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from bot import keys
from bot.aws import AwsClients, regional_session
from bot.config import Settings
from bot.doctor.findings import Finding, Status, fail, ok, skip, timed_out
from bot.doctor.scrubbing import BEARER_ENV, Scrubber
from bot.doctor.time_limits import CheckTimeout, off_loop
from bot.revocation.iam_errors import ACCESS_DENIED_CODES, error_code, explain

BEDROCK_SERVICE = "bedrock.amazonaws.com"
_CREDENTIALS_FIX = (
    "give the bot SigV4 credentials: an IAM role (instance profile, ECS task role, EKS pod "
    "identity), AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
)
_POLICY_FIX = "attach deploy/iam-policy.json to the bot's role or user"
NETWORK_FIX = (
    "check the network path to AWS from here (proxy, NAT or VPC endpoints for STS and IAM) and "
    "AWS_ENDPOINT_URL if it is set, then run doctor again"
)
# AWS did not answer at all: nothing is wrong with the credentials (yet).
_UNREACHABLE = (
    EndpointConnectionError,
    ConnectTimeoutError,
    ReadTimeoutError,
    ConnectionClosedError,
)


def unreachable(exc: BaseException, service: str) -> str | None:
    """What to say when `exc` means AWS could not be reached; None for any other error."""
    if not isinstance(exc, _UNREACHABLE):
        return None
    return f"AWS {service} cannot be reached from here ({type(exc).__name__})"


def aws_problem(exc: BaseException, operation: str, resource: str, service: str = "iam") -> str:
    # explain() words its messages itself and quotes AWS only for service errors, whose text
    # names resources, never secrets.
    return explain(exc, operation=operation, resource=resource, service=service).message


def _list_bedrock_keys(clients: AwsClients, account: str | None) -> None:
    clients.iam(account).list_service_specific_credentials(
        AllUsers=True, ServiceName=BEDROCK_SERVICE, MaxItems=1
    )


async def check_aws(
    settings: Settings,
    limit: float,
    environ: Mapping[str, str],
    scrubber: Scrubber,
) -> AsyncIterator[Finding]:
    session = regional_session(settings.aws_region)
    creds_check = "aws credentials"
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        if keys.looks_like_key(environ.get(name, "")):
            yield fail(
                creds_check,
                f"{name} holds a Bedrock API key, not an AWS access key",
                "revoke that key if it was shared, and " + _CREDENTIALS_FIX,
            )
            yield skip("aws identity", "no usable AWS credentials")
            return
    bearer = bool(environ.get(BEARER_ENV))
    try:
        found = await off_loop(session.get_credentials, limit)
    except CheckTimeout:
        yield timed_out(creds_check, "the AWS credential chain", limit, _CREDENTIALS_FIX)
        yield skip("aws identity", "no usable AWS credentials")
        return
    except BotoCoreError as exc:
        # Profiles, SSO and web identity can fail to load; the class names the cause.
        yield fail(
            creds_check, f"loading credentials failed ({type(exc).__name__})", _CREDENTIALS_FIX
        )
        yield skip("aws identity", "no usable AWS credentials")
        return
    if found is None:
        if bearer:
            yield fail(
                creds_check,
                f"only {BEARER_ENV} is set: that is a Bedrock API key, which botocore uses for "
                "Bedrock alone; IAM and STS calls need SigV4 credentials",
                _CREDENTIALS_FIX,
            )
        else:
            yield fail(creds_check, "no AWS credentials found", _CREDENTIALS_FIX)
        yield skip("aws identity", "no usable AWS credentials")
        return
    # Temporary credentials fetched from a provider (SSO, a container endpoint) are secrets too.
    with contextlib.suppress(Exception):
        frozen = found.get_frozen_credentials()
        scrubber.add(frozen.secret_key, frozen.token)
    note = f"; {BEARER_ENV} is also set and is not used for IAM or STS" if bearer else ""
    yield ok(creds_check, f"from {found.method}{note}")

    clients = AwsClients(settings, session=session)
    try:
        identity = await off_loop(clients.caller_identity, limit)
    except CheckTimeout:
        yield timed_out("aws identity", "sts:GetCallerIdentity", limit, NETWORK_FIX)
        yield skip("aws iam read", "no working AWS identity")
        return
    except Exception as exc:
        if (problem := unreachable(exc, "STS")) is not None:
            yield fail("aws identity", problem, NETWORK_FIX)
            yield skip("aws iam read", "AWS cannot be reached")
            return
        yield fail(
            "aws identity",
            aws_problem(exc, "GetCallerIdentity", "the caller", service="sts"),
            _CREDENTIALS_FIX,
        )
        yield skip("aws iam read", "no working AWS identity")
        return
    yield ok("aws identity", identity.arn)

    yield await _check_iam_read(clients, None, "aws iam read", limit, _POLICY_FIX)

    for name, account in settings.accounts.items():
        check = f"aws account {name}"
        trust_fix = (
            f"let {identity.arn} assume {account.role_arn}: the role's trust policy "
            "(deploy/target-account-role.json) with the configured external id, and "
            "sts:AssumeRole in the bot's own policy"
        )
        try:
            assumed = await off_loop(functools.partial(clients.caller_identity, name), limit)
        except CheckTimeout:
            yield timed_out(check, f"assuming {account.role_arn}", limit, trust_fix)
            continue
        except ClientError as exc:
            if exc.operation_name == "AssumeRole":
                code = error_code(exc) or "error"
                yield fail(check, f"cannot assume {account.role_arn} ({code})", trust_fix)
            else:
                problem = aws_problem(exc, "GetCallerIdentity", account.role_arn, service="sts")
                yield fail(check, problem, trust_fix)
            continue
        except Exception as exc:
            problem = aws_problem(exc, "AssumeRole", account.role_arn, service="sts")
            yield fail(check, problem, trust_fix)
            continue
        role_fix = f"attach deploy/iam-policy.json to {account.role_arn}"
        read = await _check_iam_read(clients, name, check, limit, role_fix)
        if read.status is Status.OK:
            yield ok(check, f"assumed {assumed.arn}; {read.detail}")
        else:
            yield read


async def _check_iam_read(
    clients: AwsClients, account: str | None, check: str, limit: float, fix: str
) -> Finding:
    operation = "ListServiceSpecificCredentials"
    try:
        await off_loop(lambda: _list_bedrock_keys(clients, account), limit)
    except CheckTimeout:
        return timed_out(check, f"iam:{operation}", limit, fix)
    except Exception as exc:
        problem = aws_problem(exc, operation, "Bedrock API keys of all users")
        if error_code(exc) not in ACCESS_DENIED_CODES:
            fix = "check the AWS endpoint and network, then run doctor again"
        return fail(check, problem, fix)
    return ok(check, f"iam:{operation} allowed (all users' Bedrock API keys)")
