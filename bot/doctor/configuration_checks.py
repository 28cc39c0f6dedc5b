"""Configuration checks: what `serve` would refuse to start without."""

from __future__ import annotations

from bot.config import Settings
from bot.doctor.findings import Finding, fail, ok


def check_configuration(settings: Settings) -> list[Finding]:
    """Approvers and the serving mode's own secret: what `serve` would refuse to start without."""
    findings: list[Finding] = []
    users, groups = settings.approver_user_ids, settings.approver_usergroup_ids
    if users or groups:
        parts = []
        if users:
            parts.append(f"{len(users)} user{'s' if len(users) != 1 else ''}")
        if groups:
            parts.append(f"{len(groups)} user group{'s' if len(groups) != 1 else ''}")
        approvals = settings.required_approvals
        findings.append(
            ok(
                "approvers",
                f"{' and '.join(parts)}; {approvals} approval{'s' if approvals != 1 else ''} "
                "needed per request",
            )
        )
    else:
        findings.append(
            fail(
                "approvers",
                "nobody can approve a request (serve refuses to start)",
                "set REVOKER_APPROVER_USER_IDS to Slack user ids (U…), comma-separated, "
                "or REVOKER_APPROVER_USERGROUP_IDS to user group ids (S…)",
            )
        )

    mode = settings.serve_mode
    if mode == "http":
        if settings.slack_signing_secret is None:
            findings.append(
                fail(
                    "serving",
                    "HTTP mode, but SLACK_SIGNING_SECRET is not set, so no request from Slack "
                    "can be verified",
                    "set SLACK_SIGNING_SECRET from the app's Basic Information page, or use "
                    "Socket Mode by setting SLACK_APP_TOKEN (xapp-…)",
                )
            )
        else:
            findings.append(
                ok(
                    "serving",
                    f"HTTP on {settings.host}:{settings.port} (POST /slack/events, "
                    "GET /healthz); signing secret set",
                )
            )
    else:
        app_token = settings.slack_app_token
        if app_token is None:
            findings.append(
                fail(
                    "serving",
                    "Socket Mode (REVOKER_MODE=socket), but SLACK_APP_TOKEN is not set",
                    "create an app-level token with connections:write under Basic Information "
                    "and set SLACK_APP_TOKEN, or set REVOKER_MODE=http",
                )
            )
        else:
            findings.append(ok("serving", "Socket Mode; app-level token set"))
    return findings
