"""The Slack bot token, its scopes, and the approver user groups."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.doctor.findings import Finding, fail, ok, skip, timed_out
from bot.doctor.time_limits import CheckTimeout, within

# The bot scopes manifest.yml asks for; a token missing one fails in the middle of a request.
REQUIRED_SCOPES = (
    "commands",
    "chat:write",
    "users:read",
    "usergroups:read",
    "channels:history",
    "groups:history",
)
SCOPES_HEADER = "x-oauth-scopes"
_SLACK_AUTH_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}
)
_SLACK_AUTH_FIX = (
    "copy the Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page into "
    "SLACK_BOT_TOKEN; reinstall the app if the token was revoked"
)


def missing_scopes(headers: Mapping[str, Any] | None, needed: Iterable[str]) -> list[str] | None:
    """Scopes from `needed` the token lacks, per the `x-oauth-scopes` header; None if unreported."""
    if not headers:
        return None
    value = next((v for k, v in headers.items() if str(k).lower() == SCOPES_HEADER), None)
    if value is None:
        return None
    if isinstance(value, list | tuple):  # some clients keep repeated headers as lists
        value = ",".join(str(v) for v in value)
    granted = {s.strip() for s in str(value).split(",") if s.strip()}
    return [s for s in needed if s not in granted]


def _shown_url(url: str) -> str:
    """The URL without any user:password part."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


async def check_slack(settings: Settings, limit: float) -> AsyncIterator[Finding]:
    token = settings.slack_bot_token
    if token is None or not token.get_secret_value():
        yield fail("slack token", "SLACK_BOT_TOKEN is not set", _SLACK_AUTH_FIX)
        yield skip("slack auth, scopes and user groups", "no bot token")
        return
    if not token.get_secret_value().startswith("xoxb-"):
        yield fail(
            "slack token",
            "SLACK_BOT_TOKEN is not a bot token (bot tokens start with xoxb-)",
            _SLACK_AUTH_FIX,
        )
    else:
        yield ok("slack token", "SLACK_BOT_TOKEN is set (xoxb-…)")

    api = _shown_url(settings.slack_api_url)
    client = AsyncWebClient(
        token=token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=max(1, int(limit)),
    )
    unreachable_fix = f"check network access to {api} (SLACK_API_URL) and Slack's status page"
    try:
        auth = await within(client.auth_test(), limit)
    except SlackApiError as exc:
        code = _slack_error(exc)
        if code in _SLACK_AUTH_ERRORS:
            yield fail("slack auth", f"Slack rejected SLACK_BOT_TOKEN ({code})", _SLACK_AUTH_FIX)
        else:
            yield fail("slack auth", f"auth.test failed ({code})", unreachable_fix)
        yield skip("slack scopes and user groups", "auth.test did not succeed")
        return
    except CheckTimeout:
        yield timed_out("slack auth", f"Slack at {api}", limit, unreachable_fix)
        yield skip("slack scopes and user groups", "auth.test did not succeed")
        return
    except (aiohttp.ClientError, OSError) as exc:
        yield fail(
            "slack auth", f"could not reach Slack at {api} ({type(exc).__name__})", unreachable_fix
        )
        yield skip("slack scopes and user groups", "auth.test did not succeed")
        return
    team, team_id = auth.get("team"), auth.get("team_id")
    user, user_id = auth.get("user"), auth.get("user_id")
    yield ok("slack auth", f"workspace {team} ({team_id}) as bot user {user} ({user_id})")

    missing = missing_scopes(auth.headers, REQUIRED_SCOPES)
    if missing is None:
        yield skip("slack scopes", "scopes not reported by the Slack API (no x-oauth-scopes)")
    elif missing:
        yield fail(
            "slack scopes",
            f"the bot token lacks {', '.join(missing)}",
            "add the scopes under OAuth & Permissions > Bot Token Scopes (manifest.yml lists "
            "them) and reinstall the app to the workspace",
        )
    else:
        yield ok("slack scopes", ", ".join(REQUIRED_SCOPES))

    groups = settings.approver_usergroup_ids
    if not groups:
        yield skip("slack user groups", "none configured (REVOKER_APPROVER_USERGROUP_IDS)")
        return
    for group in groups:
        yield await _check_usergroup(client, group, settings, limit, unreachable_fix)


async def _check_usergroup(
    client: AsyncWebClient, group: str, settings: Settings, limit: float, unreachable_fix: str
) -> Finding:
    check = f"slack user group {group}"
    try:
        answer = await within(client.usergroups_users_list(usergroup=group), limit)
    except SlackApiError as exc:
        code = _slack_error(exc)
        if code == "plan_upgrade_required":
            return fail(
                check,
                "this workspace cannot list user group members (plan_upgrade_required)",
                "user groups need a paid plan; use REVOKER_APPROVER_USER_IDS",
            )
        if code in ("no_such_subteam", "subteam_not_found"):
            return fail(
                check,
                f"no such user group in this workspace ({code})",
                "check REVOKER_APPROVER_USERGROUP_IDS: ids start with S (the group's id, "
                "not its @handle)",
            )
        if code == "missing_scope":
            return fail(
                check,
                "the bot token lacks usergroups:read (missing_scope)",
                "add usergroups:read under OAuth & Permissions and reinstall the app",
            )
        return fail(check, f"usergroups.users.list failed ({code})", unreachable_fix)
    except CheckTimeout:
        return timed_out(check, "usergroups.users.list", limit, unreachable_fix)
    except (aiohttp.ClientError, OSError) as exc:
        return fail(check, f"could not reach Slack ({type(exc).__name__})", unreachable_fix)
    users = answer.get("users") or []
    if users:
        return ok(check, f"{len(users)} member{'s' if len(users) != 1 else ''}")
    if settings.approver_user_ids:
        return ok(check, "no members yet; REVOKER_APPROVER_USER_IDS still names approvers")
    return fail(
        check,
        "the group has no members, so nobody can approve",
        "add the approvers to the group in Slack, or set REVOKER_APPROVER_USER_IDS",
    )


def _slack_error(exc: SlackApiError) -> str:
    try:
        return str(exc.response.get("error") or "unknown_error")
    except Exception:  # a response that is not Slack's JSON (a proxy's error page)
        return "unexpected_response"
