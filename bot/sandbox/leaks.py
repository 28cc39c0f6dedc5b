"""Genuine Bedrock API keys to leak, made in the sandbox's IAM (moto) for `bedrock-revoker demo`.

These create users, roles and credentials, which the bot itself never does and its IAM policy
does not allow; they live in the sandbox so that `tests/test_deploy_files.py`, which checks every
AWS call in the bot's code against `deploy/iam-policy.json`, keeps meaning what it says.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from bot.sandbox.iam import BEDROCK, DEFAULT_ACCOUNT_ID

_TRUST_THE_ACCOUNT = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


@dataclass(frozen=True)
class Leak:
    key: str = field(repr=False)  # the whole key string as it would leak; never in repr()
    owner: str  # the IAM user (long-term) or role (short-term) it belongs to
    credential_id: str | None = None  # long-term: the service-specific credential
    access_key_id: str | None = None  # short-term: the session's ASIA… key that signed it


def long_term_key(iam: Any, user_name: str) -> Leak:
    """A new IAM user with a Bedrock API key (CreateServiceSpecificCredential)."""
    iam.create_user(UserName=user_name)
    cred = iam.create_service_specific_credential(UserName=user_name, ServiceName=BEDROCK)[
        "ServiceSpecificCredential"
    ]
    # For Bedrock the credential's secret is the whole key a client sends: ABSK + base64.
    return Leak(
        key=cred["ServiceCredentialSecret"],
        owner=user_name,
        credential_id=cred["ServiceSpecificCredentialId"],
    )


def short_term_key(iam: Any, sts: Any, role_name: str, region: str) -> Leak:
    """A new role, an assumed session of it, and a short-term key that session signed.

    The key is made by AWS's own `aws-bedrock-token-generator` (a SigV4-presigned URL), exactly
    what an application using the role would have leaked.
    """
    from aws_bedrock_token_generator import BedrockTokenGenerator
    from botocore.credentials import Credentials

    role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=_TRUST_THE_ACCOUNT)["Role"]
    creds = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="incident-app")["Credentials"]
    signing = Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    key: str = BedrockTokenGenerator().get_token(signing, region)
    return Leak(key=key, owner=role_name, access_key_id=creds["AccessKeyId"])
