"""A bulk request (a scope of keys) in the channel: the scope in the request message, the plan's
key list and the per-key results in the thread, several replies when long.

A reply lists at most `KEYS_PER_REPLY` keys (the hub writes one notice per part), so each stays
well inside Slack's limits: 50 blocks, 3,000 characters a section.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bot.requests import KEYS_PER_REPLY
from bot.revocation.bulk import BulkPlan, KeyOutcome, KeyResult
from bot.revocation.model import ACTION_LABELS, Action
from bot.views.request_message import COMPLETED, PARTIAL, STATUS_WORDS, Rendered
from bot.views.text import FALLBACK_TEXT_LIMIT, code, slack_date, truncate, user_text
from bot.views.thread import EVENTUAL_CONSISTENCY, _Blocks, format_elapsed

SAMPLE_SIZE = 5  # keys named in the request message before approval

_OUTCOME_WORDS = {
    KeyOutcome.DONE: ":white_check_mark: done",
    KeyOutcome.ALREADY: ":heavy_minus_sign: already",
    KeyOutcome.ERROR: ":x: error",
}


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _part(part: int, of: int) -> str:
    return f" (part {part} of {of})" if of > 1 else ""


def _key_line(user: str, credential_id: str, extra: str = "") -> str:
    return f"• {code(credential_id)} of {code(user_text(user, 64))}{extra}"


def scope_lines(plan: BulkPlan) -> list[str]:
    """What the request message says about the scope: counts and a short sample."""
    where = f" in account {code(plan.scope.account)}" if plan.scope.account else ""
    account = f" ({code(plan.account_id)})" if plan.account_id else ""
    lines = [
        f"*Scope:* {user_text(plan.scope.describe(), 300)}{where}{account}",
        f"*{_n(len(plan.keys), 'key')}* of *{_n(len(plan.users), 'user')}*, as listed in IAM at "
        f"{slack_date(plan.resolved_at)}: only these run; keys made later are not included.",
    ]
    sample = [
        _key_line(k.user_name, k.credential_id, f" ({user_text(k.status, 20)})")
        for k in plan.keys[:SAMPLE_SIZE]
    ]
    more = len(plan.keys) - len(sample)
    lines += sample + ([f"…and {more} more: every key is listed in the thread."] if more else [])
    return lines


def progress_line(plan: BulkPlan, results: Iterable[KeyResult]) -> str:
    counts = _counts(results)
    recorded = sum(counts.values())
    return (
        f"{recorded} of {plan.call_count} calls recorded · {counts[KeyOutcome.DONE]} done · "
        f"{counts[KeyOutcome.ALREADY]} already · {counts[KeyOutcome.ERROR]} errors"
    )


def bulk_plan_reply(plan: BulkPlan, part: int, of: int, *, request_id: str) -> Rendered:
    """Part `part` of the plan: the first says what runs and how; each lists its keys."""
    out = _Blocks()
    if part == 1:
        out.add_text(
            f":clipboard: *The plan* for {code(request_id)}{_part(part, of)}: "
            f"{plan.call_count} IAM calls on {len(plan.keys)} keys of {len(plan.users)} users. "
            "Nothing runs before approval."
        )
        for action in plan.actions:
            out.add_text(f"• {ACTION_LABELS[action]}: {_calls_of(plan, action)}")
        if plan.deny_document is not None:
            out.add_text(f"Each user gets {code(plan.deny_policy_name)}:")
            out.add_json(plan.deny_document)
        for note in plan.notes:
            out.add_text(f":warning: {user_text(note, 1000)}")
        out.add_text(f"*The keys*{_part(part, of)}:")
    else:
        out.add_text(f":clipboard: *The plan* for {code(request_id)}, keys{_part(part, of)}:")
    start = (part - 1) * KEYS_PER_REPLY
    for k in plan.keys[start : start + KEYS_PER_REPLY]:
        out.add_text(_key_line(k.user_name, k.credential_id, f" ({user_text(k.status, 20)})"))
    text = (
        f"The plan for {request_id}{_part(part, of)}: {plan.call_count} IAM calls on "
        f"{len(plan.keys)} keys."
    )
    return out.finish(), truncate(text, FALLBACK_TEXT_LIMIT)


def _calls_of(plan: BulkPlan, action: Action) -> str:
    n = dict(plan.phases())[action]
    if action is Action.DENY_USER:
        return f"{code('PutUserPolicy')} once per user ({len(n)} calls)"
    operation = (
        "DeleteServiceSpecificCredential"
        if action is Action.DELETE
        else "UpdateServiceSpecificCredential"
    )
    return f"{code(operation)} once per key ({len(n)} calls), after reading it"


def key_table_reply(
    plan: BulkPlan, results: Iterable[KeyResult], part: int, of: int, *, request_id: str
) -> Rendered:
    """Part `part` of the per-call results, in plan order: done / already / error with IAM's
    error code and message."""
    ordered = sorted(results, key=lambda r: r.i)
    start = (part - 1) * KEYS_PER_REPLY
    chunk = ordered[start : start + KEYS_PER_REPLY]
    out = _Blocks()
    out.add_text(f":bookkeeping: *Results* for {code(request_id)}{_part(part, of)}:")
    for r in chunk:
        action, key, user = plan.key_of(r.i)
        what = f"{action.value} " + (
            f"{code(key.credential_id)} of {code(user_text(user, 64))}"
            if key is not None
            else f"user {code(user_text(user, 64))}"
        )
        line = f"• {what}: {_OUTCOME_WORDS[r.o]}"
        if r.o is KeyOutcome.ERROR:
            said = user_text(r.msg, 300) if r.msg else "(IAM's message is in the audit log)"
            line += f" {code(r.code or 'error')} {said}"
        out.add_text(line)
    errors = sum(1 for r in chunk if r.o is KeyOutcome.ERROR)
    text = f"Results for {request_id}{_part(part, of)}: {len(chunk)} calls, {errors} errors."
    return out.finish(), truncate(text, FALLBACK_TEXT_LIMIT)


def bulk_summary_reply(
    status: str,
    elapsed_seconds: float,
    plan: BulkPlan,
    results: Iterable[KeyResult],
    *,
    request_id: str,
) -> Rendered:
    counts = _counts(results)
    words = STATUS_WORDS.get(status) or user_text(status, 40)
    elapsed = format_elapsed(elapsed_seconds)
    lines = [
        f"{code(request_id)} *{words[:1].upper()}{words[1:]}* in {elapsed}: "
        f"{counts[KeyOutcome.DONE]} done, {counts[KeyOutcome.ALREADY]} already so, "
        f"{counts[KeyOutcome.ERROR]} errors, of {plan.call_count} calls on {len(plan.keys)} keys.",
        f"Keys created after the snapshot ({slack_date(plan.resolved_at)}) are not included: "
        "run the same scope again to catch them.",
    ]
    if counts[KeyOutcome.ERROR]:
        lines.append(
            "The failed keys can be retried with *Retry failures*: a new request with its own "
            "approval, of those keys only."
        )
    if status in (COMPLETED, PARTIAL):
        lines.append(EVENTUAL_CONSISTENCY)
    out = _Blocks()
    for line in lines:
        out.add_text(line)
    text = (
        f"{request_id}: {words} in {elapsed}: {counts[KeyOutcome.DONE]} done, "
        f"{counts[KeyOutcome.ALREADY]} already, {counts[KeyOutcome.ERROR]} errors."
    )
    return out.finish(), truncate(text, FALLBACK_TEXT_LIMIT)


def _counts(results: Iterable[KeyResult]) -> Mapping[KeyOutcome, int]:
    counts = dict.fromkeys(KeyOutcome, 0)
    for r in results:
        counts[r.o] += 1
    return counts
