"""Write deploy/iam-policy.json into the CloudFormation templates, so the stacks grant exactly it.

    python3 deploy/cloudformation/embed_policy.py

bot.yaml's task role gets the whole document. target-account-role.yaml's role gets the statements
a target account needs (all but AssumeConfiguredAccounts, which stays with the bot, and
ResetSecretDelivery, which is the bot's own account's), with the `*` account of each IAM ARN
narrowed to the account the stack is in. tests/test_cloudformation.py fails until this is run
after a change to iam-policy.json.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
POLICY = HERE.parent / "iam-policy.json"
BLOCK = re.compile(
    r"(?P<indent>[ ]*)# BEGIN iam-policy.json[^\n]*\n.*?# END iam-policy.json\n", re.DOTALL
)
NOT_IN_TARGET_ACCOUNTS = {"AssumeConfiguredAccounts", "ResetSecretDelivery"}


def target_account_policy(policy: dict[str, Any]) -> dict[str, Any]:
    statements = []
    for statement in policy["Statement"]:
        if statement["Sid"] in NOT_IN_TARGET_ACCOUNTS:
            continue
        resource = statement["Resource"]
        if resource.startswith("arn:aws:iam::*:"):
            narrowed = resource.replace(
                "arn:aws:iam::*:", "arn:${AWS::Partition}:iam::${AWS::AccountId}:"
            )
            statement = {**statement, "Resource": {"Fn::Sub": narrowed}}
        statements.append(statement)
    return {"Version": policy["Version"], "Statement": statements}


def embed(template: Path, document: dict[str, Any]) -> None:
    text = template.read_text(encoding="utf-8")

    def block(match: re.Match[str]) -> str:
        indent = match["indent"]
        body = "\n".join(indent + line for line in json.dumps(document, indent=2).splitlines())
        return (
            f"{indent}# BEGIN iam-policy.json (deploy/cloudformation/embed_policy.py writes this)\n"
            f"{body}\n{indent}# END iam-policy.json\n"
        )

    new, count = BLOCK.subn(block, text)
    if count != 1:
        raise SystemExit(f"{template.name}: expected one iam-policy.json block, found {count}")
    template.write_text(new, encoding="utf-8")


def main() -> None:
    policy = json.loads(POLICY.read_text(encoding="utf-8"))
    embed(HERE / "bot.yaml", policy)
    embed(HERE / "target-account-role.yaml", target_account_policy(policy))


if __name__ == "__main__":
    main()
