"""The blast-radius reply: what the leaked key did and what its principal holds, as facts with
their sources, posted in the request's thread for the approvers."""

from __future__ import annotations

from datetime import datetime

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from bot.revocation.blast_radius import BlastRadius, Holdings, KeyUse
from bot.views import ids
from bot.views.request_message import Rendered
from bot.views.text import SECTION_TEXT_LIMIT, code, escape_mrkdwn, slack_date, truncate_mrkdwn


def blast_radius_reply(report: BlastRadius, *, request_id: str | None = None) -> Rendered:
    head = f":mag: *Blast radius*{f' for {code(request_id)}' if request_id else ''}, read-only, "
    head += "before anything changes: facts, each with where it came from."
    lines = [head]
    if report.key_use is not None:
        lines += _key_use(report.key_use)
    if report.holdings is not None:
        lines += _holdings(report.holdings)
    if len(lines) == 1:
        lines.append("Nothing to look up for this target (no key or principal to search for).")
    blocks: list[Block] = [
        SectionBlock(
            block_id=ids.BLAST_RADIUS_BLOCK,
            text=MarkdownTextObject(text=truncate_mrkdwn("\n".join(lines), SECTION_TEXT_LIMIT)),
        ),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=f"Read at {slack_date(report.generated_at)}. No events is not no use: "
                    "the key may have been used in other Regions, earlier, or in data events."
                )
            ]
        ),
    ]
    calls = report.key_use.calls if report.key_use else 0
    return blocks, f"Blast radius: {calls} call(s) made with the key found."


def _when(moment: datetime | None) -> str:
    return slack_date(moment) if moment else "?"


def _values(values: tuple[str, ...]) -> str:
    return ", ".join(code(v) for v in values) if values else "none"


def _key_use(use: KeyUse) -> list[str]:
    lines = ["*What the key did* (calls made with the Bedrock API key)"]
    if use.calls:
        lines.append(
            f"• {use.calls} call(s), first {_when(use.first_seen)}, last {_when(use.last_seen)}"
            + ("" if use.complete else " (more events than were read)")
        )
        lines.append(f"• source IPs: {_values(use.source_ips)}")
        lines.append(f"• user agents: {_values(use.user_agents)}")
        lines.append(f"• models: {_values(use.models)}")
        lines.append(f"• Regions: {_values(use.regions)}")
    elif not use.problems:
        lines.append("• none found")
    for problem in use.problems:
        lines.append(f"• :warning: {escape_mrkdwn(problem)}")
    lines.append(f"_Source: {escape_mrkdwn(use.source)}; searched: {escape_mrkdwn(use.searched)}_")
    return lines


def _holdings(held: Holdings) -> list[str]:
    lines = [f"*What else {escape_mrkdwn(held.principal)} holds*"]
    if held.access_keys is not None:
        if not held.access_keys:
            lines.append("• access keys: none")
        for key in held.access_keys:
            used = "never used"
            if key.last_used_at:
                where = ", ".join(
                    code(x) for x in (key.last_used_service, key.last_used_region) if x
                )
                used = f"last used {_when(key.last_used_at)}" + (f" ({where})" if where else "")
            lines.append(
                f"• access key {code(key.access_key_id)}: {key.status}, created "
                f"{_when(key.created_at)}, {used}"
            )
    if held.console_password is not None:
        lines.append(f"• console password: {'yes' if held.console_password else 'none'}")
    if held.other_credentials is not None:
        lines.append(f"• other service-specific credentials: {_values(held.other_credentials)}")
    if held.recent_writes is not None:
        if held.recent_writes:
            listed = ", ".join(
                f"{code(c.event_name)} at {_when(c.event_time)}" for c in held.recent_writes
            )
            lines.append(f"• recent identity changes by it: {listed}")
        else:
            lines.append("• recent identity changes by it: none found")
        if held.recent_writes_searched:
            lines.append(f"_Searched: {escape_mrkdwn(held.recent_writes_searched)}_")
    for problem in held.problems:
        lines.append(f"• :warning: {escape_mrkdwn(problem)}")
    if held.sources:
        lines.append(f"_Sources: {escape_mrkdwn('; '.join(held.sources))}_")
    return lines


__all__ = ["blast_radius_reply"]
