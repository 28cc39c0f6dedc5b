"""IAM's own input patterns (botocore IAM model), checked before any AWS call."""

from __future__ import annotations

import re

from bot.errors import InvalidInput

USER_NAME = re.compile(r"[\w+=,.@-]{1,64}")
ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}")
POLICY_NAME = re.compile(r"[\w+=,.@-]{1,128}")
CREDENTIAL_ID = re.compile(r"[\w]{20,128}")
ACCOUNT_ID = re.compile(r"\d{12}")
ROLE_ARN = re.compile(
    r"arn:aws[\w-]*:iam::(?P<account>\d{12}):role(?P<path>/(?:[\x21-\x7e]*/)?)(?P<name>[\w+=,.@-]{1,64})"
)
# What CloudTrail shows as a role session's userIdentity.arn; responders copy it from there.
ASSUMED_ROLE_ARN = re.compile(
    r"arn:aws[\w-]*:sts::(?P<account>\d{12}):assumed-role/(?P<name>[\w+=,.@-]{1,64})"
    r"/(?P<session>[\w+=,.@-]{2,64})"
)
REQUEST_ID = re.compile(r"R-[0-9A-Z]{6,12}")


def _check(pattern: re.Pattern[str], value: str, field: str, what: str) -> str:
    value = value.strip()
    if not pattern.fullmatch(value):
        raise InvalidInput(f"That is not a valid {what}.", field=field)
    return value


def user_name(value: str, field: str = "identifier") -> str:
    return _check(USER_NAME, value, field, "IAM user name (1-64 of letters, digits and +=,.@_-)")


def role_name(value: str, field: str = "identifier") -> str:
    return _check(ROLE_NAME, value, field, "IAM role name (1-64 of letters, digits and +=,.@_-)")


def policy_name(value: str, field: str = "policy_name") -> str:
    return _check(POLICY_NAME, value, field, "IAM policy name")


def credential_id(value: str, field: str = "identifier") -> str:
    return _check(CREDENTIAL_ID, value, field, "credential id (20-128 letters and digits)")


def account_id(value: str, field: str = "account") -> str:
    return _check(ACCOUNT_ID, value, field, "AWS account id (12 digits)")


def request_id(value: str, field: str = "request") -> str:
    return _check(REQUEST_ID, value.upper(), field, "request id (like R-7KQ2M9)")
