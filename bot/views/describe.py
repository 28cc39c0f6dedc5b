"""mrkdwn descriptions of targets and decoded keys, shared by the modal, the message and the thread.

Everything that came from outside (IAM names, aliases, decoded fields) goes through `code` or
`user_text`, because a decoded key is attacker-controlled text: whoever leaked it could have
crafted its alias.
"""

from __future__ import annotations

from datetime import datetime

from bot.revocation.model import ACTION_LABELS, Action, Credential, DecodedKey, KeyKind, Target
from bot.views.text import code, iso_utc, slack_date, user_text

KIND_LABELS: dict[KeyKind, str] = {
    KeyKind.LONG_TERM: "Long-term key (IAM user credential, ABSK…)",
    KeyKind.SHORT_TERM: "Short-term key (role session, bedrock-api-key-…)",
}
KIND_SHORT: dict[KeyKind, str] = {
    KeyKind.LONG_TERM: "long-term",
    KeyKind.SHORT_TERM: "short-term",
}


def describe_key(key: DecodedKey) -> str:
    """One line: the fingerprint and what the key decoded to. Never the key."""
    parts = [f"{KIND_SHORT[key.kind]} key, fingerprint {code(key.fingerprint)}"]
    if key.kind is KeyKind.LONG_TERM:
        if key.user_name:
            parts.append(f"IAM user {code(key.user_name)}")
        if key.account_id:
            parts.append(f"account {code(key.account_id)}")
        if key.alias:
            parts.append(f"alias {code(key.alias)}")
    else:
        if key.access_key_id:
            signer = {"session": "a session", "user": "an IAM user's access key"}.get(
                key.signed_by or "", "unknown credentials"
            )
            parts.append(f"signed by {signer} {code(key.access_key_id)}")
        if key.region:
            parts.append(f"region {code(key.region)}")
        if key.issued_at:
            parts.append(f"issued {slack_date(key.issued_at)}")
        if key.expires_at:
            # X-Amz-Expires is the key's own limit; the signing session may end sooner.
            verb = "expired" if key.expired else "expires at the latest"
            parts.append(f"{verb} {slack_date(key.expires_at)}")
    return ", ".join(parts)


def describe_credential(cred: Credential) -> str:
    status = {"Active": ":red_circle: Active", "Inactive": ":white_circle: Inactive"}.get(
        cred.status, user_text(cred.status, 40)
    )
    parts = [f"{code(cred.credential_id)} of {code(cred.user_name)}: {status}"]
    if cred.created_at:
        parts.append(f"created {slack_date(cred.created_at)}")
    parts.append(f"expires {slack_date(cred.expires_at)}" if cred.expires_at else "never expires")
    return ", ".join(parts)


def describe_account(target: Target) -> str:
    if target.account and target.account_id:
        return f"{code(target.account)} ({code(target.account_id)})"
    if target.account:
        return code(target.account)
    if target.account_id:
        return code(target.account_id)
    return "this tool's own account"


def describe_target(target: Target, *, as_requested: bool = False) -> list[str]:
    """Lines describing what will be acted on, as resolved against IAM.

    `as_requested` labels the key's state as a snapshot: once a request has run, "Active" would
    otherwise read as the key's state now.
    """
    lines = [f"*Account:* {describe_account(target)}"]
    if target.kind is KeyKind.LONG_TERM:
        if target.credential is not None:
            label = "*Key* (when requested)" if as_requested else "*Key*"
            lines.append(f"{label}: {describe_credential(target.credential)}")
        elif target.user_name:
            lines.append(f"*IAM user:* {code(target.user_name)}")
        if target.other_credentials:
            others = "; ".join(describe_credential(c) for c in target.other_credentials)
            lines.append(f"*The user's other Bedrock keys:* {others}")
    elif target.role is not None:
        lines.append(f"*Role:* {code(target.role.arn)}")
    if target.key is not None:
        lines.append(f"*Leaked key:* {describe_key(target.key)}")
    return lines


def target_name(target: Target) -> str:
    """A short plain-text name of the target, for fallbacks and confirm dialogs."""
    if target.credential is not None:
        return f"key {target.credential.credential_id} of {target.credential.user_name}"
    if target.user_name:
        return f"user {target.user_name}"
    if target.role is not None:
        return f"role {target.role.name}"
    if target.key is not None:
        return f"key {target.key.fingerprint}"
    return "the target"


def action_label(action: Action, revoke_before: datetime | None = None) -> str:
    label = ACTION_LABELS.get(action, action.value)
    if action is Action.REVOKE_SESSIONS and revoke_before is not None:
        label = label.replace("before now", f"before {iso_utc(revoke_before)}")
    return label
