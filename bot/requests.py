"""Revocation requests: the state machine and the hub that drives it.

The hub knows nothing of Slack or of the database. It reads a request, decides with pure functions,
and writes the new state together with its audit events as ONE compare-and-set in the store; a lost
race means "read again and decide again", so two approvers clicking at the same moment get exactly
one approval and the other is told who won.

    pending ──approve (Nth)──► approved ──claim──► executing ──finish──► completed
       │  ▲                                   (lease)   │ ▲                ├──► partial
       │  └─ approve (k < N): still pending             └─┘ record_step    └──► failed
       ├──reject (an approver)──► rejected                  claim again after the lease lapsed
       ├──cancel (the requester)──► cancelled               (its runner died): resumed
       └──TTL passed (sweep, or any click after it)──► expired

`approved` and `executing` are neither open nor final: decided, not yet carried out. A runner
(`bot.runner`) on any replica claims an approved request with a lease, records each step's result
as it happens and renews the lease while it works; a request whose lease lapsed is claimed again
and resumed from its recorded steps.

Everything the channel must be told about a request is a `Notice` written in the same write as
the change it reports, in order; `bot.outbox` delivers them. The hub never waits on Slack.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import AwareDatetime, Field, field_validator

from bot import validation
from bot.audit import SYSTEM_ACTOR, AuditEvent, EventType, new_event
from bot.errors import InvalidInput, NotFound
from bot.foreground import Foreground
from bot.keys import redact_free_text, redact_secrets
from bot.revocation.blast_radius import BlastRadius
from bot.revocation.bulk import BulkPlan, KeyOutcome, KeyResult
from bot.revocation.model import (
    ExecutionReport,
    Frozen,
    RevocationPlan,
    StepResult,
    Verification,
)

if TYPE_CHECKING:
    from bot.store.base import RequestStore


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    EXECUTING = "executing"
    COMPLETED = "completed"
    PARTIAL = "partial"
    FAILED = "failed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


OPEN_STATUSES = frozenset({RequestStatus.PENDING})
ACTIVE_STATUSES = frozenset(
    {RequestStatus.PENDING, RequestStatus.APPROVED, RequestStatus.EXECUTING}
)
TERMINAL_STATUSES = frozenset(
    {
        RequestStatus.COMPLETED,
        RequestStatus.PARTIAL,
        RequestStatus.FAILED,
        RequestStatus.REJECTED,
        RequestStatus.CANCELLED,
        RequestStatus.EXPIRED,
    }
)

TRANSITIONS: dict[RequestStatus, frozenset[RequestStatus]] = {
    RequestStatus.PENDING: frozenset(
        {
            RequestStatus.APPROVED,
            RequestStatus.REJECTED,
            RequestStatus.CANCELLED,
            RequestStatus.EXPIRED,
        }
    ),
    RequestStatus.APPROVED: frozenset({RequestStatus.EXECUTING}),
    RequestStatus.EXECUTING: frozenset(
        {RequestStatus.COMPLETED, RequestStatus.PARTIAL, RequestStatus.FAILED}
    ),
    **{s: frozenset() for s in TERMINAL_STATUSES},
}

# Crockford base32: no I, L, O, U, so an id read aloud or retyped is unambiguous.
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_LOOKALIKES = str.maketrans("OIL", "011")


def new_request_id() -> str:
    return "R-" + "".join(secrets.choice(_CROCKFORD) for _ in range(8))


def undo_request_id(original_id: str, actions: str, attempt: int) -> str:
    """The id of the `attempt`th undo request (0 first) of `actions` on `original_id`."""
    return _derived_id(f"undo:{original_id}:{actions}:{attempt}")


def retry_request_id(original_id: str, attempt: int) -> str:
    """The id of the `attempt`th retry (0 first) of the failed keys of `original_id`."""
    return _derived_id(f"retry:{original_id}:{attempt}")


def _derived_id(seed: str) -> str:
    """Derived, not drawn: every click on the same Undo or Retry button, on any replica, aims at
    the same id, and the store's create, which refuses a taken id, lets exactly one make it."""
    digest = hashlib.sha256(seed.encode()).digest()
    bits = int.from_bytes(digest[:5], "big")  # 40 bits, as new_request_id
    return "R-" + "".join(_CROCKFORD[(bits >> shift) & 31] for shift in range(35, -1, -5))


MAX_FOLLOW_UPS = 100  # undo (of one action) or retry requests of one request, ended ones too


def normalize_request_id(text: str) -> str:
    """A request id as people type it (`r-7kq2m9ab`, with O for 0) in canonical form."""
    text = text.strip().upper()
    if text.startswith("R-"):
        text = "R-" + text[2:].translate(_LOOKALIKES)
    return validation.request_id(text)


class Approval(Frozen):
    user_id: str
    at: AwareDatetime


class Lease(Frozen):
    """Who holds a request's work (a runner executing it, or a drainer delivering its notices),
    and until when. A lapsed lease means its holder died: anyone may take the work over."""

    owner: str
    expires_at: AwareDatetime

    def held_by_other(self, owner: str, now: datetime) -> bool:
        return self.owner != owner and now < self.expires_at


class NoticeKind(StrEnum):
    """What the channel must be told. The Slack layer renders each from the stored request."""

    REQUEST = "request"  # post the request message, or redraw it to its current state
    PLAN = "plan"  # a bulk plan's key list spans several: data: part, of (1-based)
    BLAST_RADIUS = "blast_radius"  # data: the read-only report (bot.revocation.blast_radius)
    APPROVAL = "approval"  # data: user, at, approvals, required
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    INTERRUPTED = "interrupted"  # data: lost (the lapsed lease's expiry), at (resumed)
    STEP = "step"  # data: index (its result is in `results`)
    KEY_TABLE = "key_table"  # a bulk run's per-key results; data: part, of (1-based)
    VERIFICATION = "verification"
    SUMMARY = "summary"
    UNDO_REQUESTED = "undo_requested"  # in the original's thread; data: user
    ORIGINAL = "original"  # redraw the original's message (its Undo buttons changed)


class Notice(Frozen):
    seq: int  # 1, 2, 3... per request: the order of delivery
    kind: NoticeKind
    data: dict[str, Any] = Field(default_factory=dict)
    at: AwareDatetime | None = None  # when it was written: how long the channel lags behind


class RevocationRequest(Frozen):
    id: str
    requester: str  # Slack user id
    channel_id: str
    message_ts: str | None = None  # the request message, once posted
    reason: str  # as typed (secrets redacted); escape it when rendering
    plan: RevocationPlan
    status: RequestStatus = RequestStatus.PENDING
    created_at: AwareDatetime
    expires_at: AwareDatetime
    required_approvals: int = Field(default=1, ge=1)
    approvals: tuple[Approval, ...] = ()
    decided_by: str | None = None  # final approver, rejecter or canceller
    decided_at: AwareDatetime | None = None
    decision_note: str | None = None  # reject/cancel reason as typed; escape it when rendering
    report: ExecutionReport | None = None
    undo_of: str | None = None  # the request this one reverses
    retry_of: str | None = None  # the bulk request whose failed keys this one retries
    # Execution, recorded as it happens: the runner holding it, each step's result as it ended,
    # and the steps that cannot be re-run blindly (reset) whose call may have been made.
    lease: Lease | None = None
    run_started_at: AwareDatetime | None = None
    results: tuple[StepResult, ...] = ()
    attempted: tuple[int, ...] = ()
    # The outbox: what the channel must be told, in order; the first `delivered` are in Slack.
    notices: tuple[Notice, ...] = ()
    delivered: int = 0
    # A scope of keys (bulk): the snapshot approved, each call's result recorded in batches,
    # and when the request message last showed progress. `plan` then only names the target.
    bulk: BulkPlan | None = None
    key_results: tuple[KeyResult, ...] = ()
    progress_at: AwareDatetime | None = None
    courier: Lease | None = None
    version: int = 1  # bumped by every write; the store's compare-and-set checks it

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not validation.REQUEST_ID.fullmatch(v):
            raise ValueError("not a request id")
        return v

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def approved_by(self) -> tuple[str, ...]:
        return tuple(a.user_id for a in self.approvals)

    def is_due(self, now: datetime) -> bool:
        """Pending past its TTL: expired in fact even if no sweep has recorded it yet."""
        return self.status is RequestStatus.PENDING and now >= self.expires_at

    @property
    def undelivered(self) -> tuple[Notice, ...]:
        return self.notices[self.delivered :]

    @property
    def is_active(self) -> bool:
        """Work is left: a decision, an execution, or notices not yet in Slack. Stores index it
        so runners and drainers find their work without scanning every request."""
        return self.status in ACTIVE_STATUSES or bool(self.undelivered)

    def runnable(self, owner: str, now: datetime) -> bool:
        """Approved, or executing under a lease that lapsed: a runner should claim it."""
        if self.status not in (RequestStatus.APPROVED, RequestStatus.EXECUTING):
            return False
        return self.lease is None or not self.lease.held_by_other(owner, now)

    def result_of(self, index: int) -> StepResult | None:
        return next((r for r in self.results if r.index == index), None)

    def bulk_counts(self) -> dict[KeyOutcome, int]:
        counts = dict.fromkeys(KeyOutcome, 0)
        for r in self.key_results:
            counts[r.o] += 1
        return counts

    @property
    def target_name(self) -> str | None:
        """The IAM user or role the request acts on; what `list <name>` looks for."""
        t = self.plan.target
        name = t.user_name or (t.role.name if t.role else None)
        if name is None and t.credential is not None:
            name = t.credential.user_name
        return name


class InvalidTransition(ValueError):
    pass


def advance(
    request: RevocationRequest, status: RequestStatus | None = None, **changes: Any
) -> RevocationRequest:
    """The request after one write: `status` (if it changes) must be a legal move; version + 1."""
    to = status or request.status
    if to != request.status and to not in TRANSITIONS[request.status]:
        raise InvalidTransition(f"{request.id}: {request.status} cannot become {to}")
    # Shallow: the fields' values as they are (validated models pass through as they are), so a
    # write validates what it changes, not a bulk request's thousand keys again.
    data = dict(request)
    data.update(changes, status=to, version=request.version + 1)
    return RevocationRequest.model_validate(data)


# --- outcomes -------------------------------------------------------------------------------------


class OutcomeCode(StrEnum):
    # the call changed the request as asked
    APPROVED = "approved"
    APPROVAL_RECORDED = "approval_recorded"  # k of N approvals; still pending
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXECUTION_STARTED = "execution_started"
    RESUMED = "resumed"  # claimed after the previous runner's lease lapsed
    RENEWED = "renewed"
    STEP_RECORDED = "step_recorded"
    FINISHED = "finished"
    CLAIMED = "claimed"  # the outbox of a request, for delivery
    DELIVERED = "delivered"
    # refused
    NOT_FOUND = "not_found"
    NOT_PENDING = "not_pending"  # already decided: the message says by whom and when
    EXPIRED = "expired"
    SELF_APPROVAL = "self_approval"
    NOT_APPROVER = "not_approver"
    DUPLICATE = "duplicate"
    NOT_REQUESTER = "not_requester"
    WRONG_CHANNEL = "wrong_channel"  # the click came from another channel than the request's
    NOT_APPROVED = "not_approved"  # claim of a request that is neither approved nor executing
    NOT_EXECUTING = "not_executing"  # a step or finish on a request that is not executing
    HELD = "held"  # another runner or drainer holds the lease
    LEASE_LOST = "lease_lost"  # the caller's lease lapsed and someone else took the work
    BUSY = "busy"  # lost the race too many times in a row


_DONE = frozenset(
    {
        OutcomeCode.APPROVED,
        OutcomeCode.APPROVAL_RECORDED,
        OutcomeCode.REJECTED,
        OutcomeCode.CANCELLED,
        OutcomeCode.EXECUTION_STARTED,
        OutcomeCode.RENEWED,
        OutcomeCode.RESUMED,
        OutcomeCode.STEP_RECORDED,
        OutcomeCode.FINISHED,
        OutcomeCode.CLAIMED,
        OutcomeCode.DELIVERED,
    }
)


class Outcome(Frozen):
    """What a call did, for a handler to render.

    `message` is plain words (user ids through the service's `name_user`); user-typed text is never
    in it. `changed` means this call wrote a new state, so the request message needs updating; note
    that EXPIRED is a refusal that still changed the request: the click found the TTL passed.
    """

    code: OutcomeCode
    message: str
    changed: bool = False
    request: RevocationRequest | None = None
    # A claim that took work over from a holder whose lease lapsed: that holder, else None.
    taken_from: str | None = None

    @property
    def ok(self) -> bool:
        return self.code in _DONE


IsApprover = Callable[[str], Awaitable[bool]]
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_time(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class _Change:
    """A decided write: the new request, the events that go with it, and what to tell the caller."""

    new: RevocationRequest
    code: OutcomeCode
    message: str
    events: list[tuple[EventType, str, dict[str, Any]]] = field(default_factory=list)
    notices: list[tuple[NoticeKind, dict[str, Any]]] = field(default_factory=list)
    taken_from: str | None = None


_Step = Callable[[RevocationRequest, datetime], Awaitable["Outcome | _Change"]]


class RequestService:
    """The hub: every state change of a request goes through here.

    `store` persists requests and their audit events together. `name_user` turns a Slack user id
    into what messages show (a handler may pass `lambda u: f"<@{u}>"`).
    """

    def __init__(
        self,
        store: RequestStore,
        *,
        clock: Clock = utcnow,
        ttl: timedelta = timedelta(minutes=60),
        name_user: Callable[[str], str] = str,
        max_attempts: int = 20,
        foreground: Foreground | None = None,
    ) -> None:
        self._store = store
        # Writes come after acks: each waits for a calm moment (see bot/foreground.py).
        self._foreground = foreground or Foreground()
        self._clock = clock
        self._ttl = ttl
        self._name = name_user
        self._max_attempts = max_attempts
        self._watchers: list[Callable[[RevocationRequest], None]] = []

    def watch(self, watcher: Callable[[RevocationRequest], None]) -> None:
        """Call `watcher` with every request this hub writes, right after the write: how the
        runner and the outbox drainer of this process hear of their work without polling."""
        self._watchers.append(watcher)

    def _written(self, request: RevocationRequest) -> None:
        for watcher in self._watchers:
            watcher(request)

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the clock must return timezone-aware datetimes")
        return now.astimezone(UTC)

    # --- reads ------------------------------------------------------------------------------------

    async def get(self, request_id: str) -> RevocationRequest | None:
        return await self._store.get(normalize_request_id(request_id))

    def now(self) -> datetime:
        return self._now()

    async def list_pending(self) -> list[RevocationRequest]:
        return await self._store.list_pending()

    async def list_active(self) -> list[RevocationRequest]:
        return await self._store.list_active()

    async def list_recent(
        self, target: str | None = None, limit: int = 20
    ) -> list[RevocationRequest]:
        return await self._store.list_recent(target, limit)

    async def history(self, request_id: str) -> list[AuditEvent]:
        return await self._store.events(normalize_request_id(request_id))

    # --- writes -----------------------------------------------------------------------------------

    async def create(
        self,
        plan: RevocationPlan,
        requester: str,
        channel_id: str,
        reason: str,
        required_approvals: int = 1,
        undo_of: str | None = None,
        request_id: str | None = None,
        blast_radius: BlastRadius | None = None,
        bulk: BulkPlan | None = None,
        retry_of: str | None = None,
    ) -> RevocationRequest:
        """Store a new pending request (of a scope of keys with `bulk`). `request_id` is the id
        to give it when free (the one its target was resolved under, so AWS's records name
        it); a fresh one is drawn otherwise.

        `undo_of` or `retry_of` make it a follow-up of an ended request (an undo of some of its
        actions, or a retry of a bulk request's failed keys): refused while the same follow-up
        is still pending, approved or executing, however many clicks or replicas ask at once."""
        reason = redact_free_text(reason.strip())
        if not reason:
            raise InvalidInput(
                "Say why: a reason or incident reference is required.", field="reason"
            )
        if required_approvals < 1:
            raise InvalidInput("At least one approval is required.")
        if undo_of is not None:
            original = await self.get(undo_of)
            if original is None:
                raise NotFound(f"There is no request {undo_of} to undo.")
            if original.status not in (RequestStatus.COMPLETED, RequestStatus.PARTIAL):
                raise InvalidInput(
                    f"Only a completed request can be undone; {original.id} is {original.status}."
                )
            undo_of = original.id
        if retry_of is not None:
            if undo_of is not None:
                raise InvalidInput("A request undoes another or retries its failures, not both.")
            original = await self.get(retry_of)
            if original is None:
                raise NotFound(f"There is no request {retry_of}.")
            if (
                bulk is None
                or original.bulk is None
                or not original.is_terminal
                or original.bulk.failures(original.key_results) is None
            ):
                raise InvalidInput(f"{original.id} has no failed keys to retry.")
            retry_of = original.id
        now = self._now()
        asked = ",".join(a.value for a in plan.actions)
        # One follow-up per click across replicas: racing creators derive the same ids, in turn.
        if undo_of is not None:
            ids = [undo_request_id(undo_of, asked, n) for n in range(MAX_FOLLOW_UPS)]
        elif retry_of is not None:
            ids = [retry_request_id(retry_of, n) for n in range(MAX_FOLLOW_UPS)]
        else:
            # 40 random bits: a collision is unlikely but possible; the store refuses a taken id.
            ids = [request_id or new_request_id()] + [new_request_id() for _ in range(4)]
        told: list[tuple[NoticeKind, dict[str, Any]]] = [(NoticeKind.REQUEST, {})]
        if bulk is None:
            told.append((NoticeKind.PLAN, {}))
        else:
            parts = bulk_parts(len(bulk.keys))
            told += [(NoticeKind.PLAN, {"part": k, "of": parts}) for k in range(1, parts + 1)]
        if blast_radius is not None:
            told.append((NoticeKind.BLAST_RADIUS, blast_radius.model_dump(mode="json")))
        if undo_of is not None:
            told.append((NoticeKind.UNDO_REQUESTED, {"user": requester}))
        notices = tuple(
            Notice(seq=n, kind=kind, data=data, at=now)
            for n, (kind, data) in enumerate(told, start=1)
        )
        for candidate in ids:
            request = RevocationRequest(
                id=candidate,
                requester=requester,
                channel_id=channel_id,
                reason=reason,
                plan=plan,
                created_at=now,
                expires_at=now + self._ttl,
                required_approvals=required_approvals,
                undo_of=undo_of,
                retry_of=retry_of,
                notices=notices,
                bulk=bulk,
            )
            event = new_event(
                None, request.id, EventType.REQUESTED, requester, now, _requested_data(request)
            )
            if await self._store.create(request, [event]):
                self._written(request)
                return request
            taken = await self._store.get(candidate)
            if taken is not None and _same_follow_up(taken, request) and _under_way(taken, now):
                what = (
                    f"retries the failed keys of {retry_of}"
                    if retry_of is not None
                    else f"asks for this undo ({asked}) of {undo_of}"
                )
                raise InvalidInput(
                    f"{taken.id} already {what}; {_UNDER_WAY[taken.status]}. "
                    "Nothing new was requested: ask again once it has ended."
                )
            # Otherwise an earlier follow-up that has ended (or, rarely, an unrelated request):
            # the next id. Ended is final, so the one under way, if any, is the last one made.
        raise RuntimeError("could not allocate a free request id")

    async def approve(
        self,
        request_id: str,
        user_id: str,
        is_approver: IsApprover,
        *,
        channel_id: str | None = None,
    ) -> Outcome:
        """`channel_id`: where the click came from; a request is decided only in its own channel."""
        # Asked once: the answer does not change between retries of a lost race.
        approver: bool | None = None

        async def step(req: RevocationRequest, now: datetime) -> Outcome | _Change:
            nonlocal approver
            if (elsewhere := _channel_gate(req, channel_id)) is not None:
                return elsewhere
            if (ended := self._pending_gate(req, now)) is not None:
                return ended
            if user_id == req.requester:
                return _refuse(
                    OutcomeCode.SELF_APPROVAL,
                    "You made this request, so you cannot approve it: a second person must.",
                    req,
                )
            if approver is None:
                approver = await is_approver(user_id)
            if not approver:
                return _refuse(
                    OutcomeCode.NOT_APPROVER,
                    "Only configured approvers can approve a revocation; nothing was changed.",
                    req,
                )
            if user_id in req.approved_by:
                return _refuse(
                    OutcomeCode.DUPLICATE,
                    f"You already approved this request; it needs {req.required_approvals} "
                    "approvals from different people.",
                    req,
                )
            approvals = (*req.approvals, Approval(user_id=user_id, at=now))
            data = {"approvals": len(approvals), "required": req.required_approvals}
            told = [
                (NoticeKind.REQUEST, {}),
                (NoticeKind.APPROVAL, {"user": user_id, "at": now.isoformat(), **data}),
            ]
            if len(approvals) >= req.required_approvals:
                return _Change(
                    advance(
                        req,
                        RequestStatus.APPROVED,
                        approvals=approvals,
                        decided_by=user_id,
                        decided_at=now,
                    ),
                    OutcomeCode.APPROVED,
                    f"Approved by {self._name(user_id)} at {format_time(now)}.",
                    [(EventType.APPROVED, user_id, data)],
                    told,
                )
            missing = req.required_approvals - len(approvals)
            return _Change(
                advance(req, approvals=approvals),
                OutcomeCode.APPROVAL_RECORDED,
                f"Approval {len(approvals)} of {req.required_approvals} recorded; "
                f"{missing} more needed from other approvers.",
                [(EventType.APPROVAL, user_id, data)],
                told,
            )

        return await self._transact(request_id, step)

    async def reject(
        self,
        request_id: str,
        user_id: str,
        is_approver: IsApprover,
        note: str | None = None,
        *,
        channel_id: str | None = None,
    ) -> Outcome:
        approver: bool | None = None
        clean_note = _clean_note(note)

        async def step(req: RevocationRequest, now: datetime) -> Outcome | _Change:
            nonlocal approver
            if (elsewhere := _channel_gate(req, channel_id)) is not None:
                return elsewhere
            if (ended := self._pending_gate(req, now)) is not None:
                return ended
            if approver is None:
                approver = await is_approver(user_id)
            if not approver:
                hint = " As the requester you can cancel it." if user_id == req.requester else ""
                return _refuse(
                    OutcomeCode.NOT_APPROVER, "Only approvers can reject a request." + hint, req
                )
            if user_id == req.requester:
                # A rejection is a second person's decision in the audit trail; the requester who
                # is also an approver ends their own request by cancelling it.
                return _refuse(
                    OutcomeCode.SELF_APPROVAL,
                    "You made this request, so you cannot reject it: a second person must. "
                    "Cancel it instead if it is no longer needed.",
                    req,
                )
            return self._end(req, RequestStatus.REJECTED, user_id, now, clean_note)

        return await self._transact(request_id, step)

    async def cancel(
        self,
        request_id: str,
        user_id: str,
        note: str | None = None,
        *,
        channel_id: str | None = None,
    ) -> Outcome:
        clean_note = _clean_note(note)

        async def step(req: RevocationRequest, now: datetime) -> Outcome | _Change:
            if (elsewhere := _channel_gate(req, channel_id)) is not None:
                return elsewhere
            if (ended := self._pending_gate(req, now)) is not None:
                return ended
            if user_id != req.requester:
                return _refuse(
                    OutcomeCode.NOT_REQUESTER,
                    f"Only the requester ({self._name(req.requester)}) can cancel this request.",
                    req,
                )
            return self._end(req, RequestStatus.CANCELLED, user_id, now, clean_note)

        return await self._transact(request_id, step)

    async def expire_due(self, now: datetime | None = None) -> list[RevocationRequest]:
        """Expire pending requests past their TTL; returns them so their messages can be updated."""
        expired: list[RevocationRequest] = []
        at = now.astimezone(UTC) if now is not None else self._now()
        for candidate in await self._store.list_pending():
            if not candidate.is_due(at):
                continue

            async def step(req: RevocationRequest, now: datetime) -> Outcome | _Change:
                if not req.is_due(now):
                    return _refuse(OutcomeCode.NOT_PENDING, self.describe_decision(req), req)
                return self._expire(req, now)

            outcome = await self._transact(candidate.id, step, now=at)
            if outcome.changed and outcome.request is not None:
                expired.append(outcome.request)
        return expired

    # --- execution (the runner) -----------------------------------------------------------------

    async def claim(self, request_id: str, owner: str, lease_for: timedelta) -> Outcome:
        """Take an approved request, or an executing one whose runner's lease lapsed, for
        `owner` to run until `lease_for` from now (renew it while running). Exactly one
        claimer wins; a takeover says so in the audit and the thread."""

        async def step(req: RevocationRequest, now: datetime) -> Outcome | _Change:
            if req.status not in (RequestStatus.APPROVED, RequestStatus.EXECUTING):
                return _refuse(
                    OutcomeCode.NOT_APPROVED,
                    f"This request is {req.status}, not approved; nothing will run.",
                    req,
                )
            lease = Lease(owner=owner, expires_at=now + lease_for)
            if req.status is RequestStatus.APPROVED:
                return _Change(
                    advance(req, RequestStatus.EXECUTING, lease=lease, run_started_at=now),
                    OutcomeCode.EXECUTION_STARTED,
                    "Executing the plan.",
                    [(EventType.EXECUTION_STARTED, SYSTEM_ACTOR, {"runner": owner})],
                )
            held = req.lease
            if held is not None and held.held_by_other(owner, now):
                return _refuse(OutcomeCode.HELD, "Another runner is executing this request.", req)
            lost = held.expires_at if held is not None else now
            data = {
                "runner": owner,
                "interrupted_runner": held.owner if held else None,
                "lease_expired_at": lost.isoformat(),
                "steps_recorded": len(req.results) + len(req.key_results),
            }
            return _Change(
                advance(req, lease=lease),
                OutcomeCode.RESUMED,
                "Resuming an interrupted execution.",
                [(EventType.RESUMED, SYSTEM_ACTOR, data)],
                [(NoticeKind.INTERRUPTED, {"lost": lost.isoformat(), "at": now.isoformat()})],
                taken_from=held.owner if held else None,
            )

        return await self._transact(request_id, step)

    async def renew(self, request_id: str, owner: str, lease_for: timedelta) -> Outcome:
        """Extend `owner`'s lease on an executing request; LEASE_LOST if another runner has it."""

        async def step(req: RevocationRequest, now: datetime) -> Outcome | _Change:
            if (lost := _runner_gate(req, owner)) is not None:
                return lost
            lease = Lease(owner=owner, expires_at=now + lease_for)
            return _Change(advance(req, lease=lease), OutcomeCode.RENEWED, "Lease renewed.")

        return await self._transact(request_id, step)

    async def begin_step(self, request_id: str, owner: str, index: int) -> Outcome:
        """Record, before its call, that a step which cannot be re-run blindly (a reset) is
        being attempted: after a crash its outcome is unknown, and it is not run again."""

        async def step(req: RevocationRequest, now: datetime) -> Outcome | _Change:
            if (lost := _runner_gate(req, owner)) is not None:
                return lost
            if index in req.attempted:
                return _refuse(OutcomeCode.STEP_RECORDED, "Already attempted.", req)
            return _Change(
                advance(req, attempted=(*req.attempted, index)),
                OutcomeCode.STEP_RECORDED,
                f"Step {index + 1} attempted.",
                [(EventType.STEP_ATTEMPTED, SYSTEM_ACTOR, {"index": index})],
            )

        return await self._transact(request_id, step)

    async def record_step(
        self, request_id: str, owner: str, result: StepResult, lease_for: timedelta
    ) -> Outcome:
        """Record one step's result as soon as it is known (and renew the lease)."""

        async def step(req: RevocationRequest, now: datetime) -> Outcome | _Change:
            if (lost := _runner_gate(req, owner)) is not None:
                return lost
            if req.result_of(result.index) is not None:
                return _refuse(OutcomeCode.STEP_RECORDED, "Already recorded.", req)
            return _Change(
                advance(
                    req,
                    results=(*req.results, result),
                    lease=Lease(owner=owner, expires_at=now + lease_for),
                ),
                OutcomeCode.STEP_RECORDED,
                f"Step {result.index + 1}: {result.outcome}.",
                [(EventType.STEP, SYSTEM_ACTOR, _step_data(result))],
                [(NoticeKind.STEP, {"index": result.index})],
            )

        return await self._transact(request_id, step)

    async def record_keys(
        self,
        request_id: str,
        owner: str,
        results: tuple[KeyResult, ...],
        lease_for: timedelta,
        progress_every: timedelta,
    ) -> Outcome:
        """Record a batch of a bulk run's results in one write (and renew the lease): the
        request grows by a batch, not a rewrite per key. The request message is redrawn with
        the progress at most every `progress_every`."""

        async def step(req: RevocationRequest, now: datetime) -> Outcome | _Change:
            if (lost := _runner_gate(req, owner)) is not None:
                return lost
            known = {r.i for r in req.key_results}
            fresh = tuple(sorted((r for r in results if r.i not in known), key=lambda r: r.i))
            # The audit event keeps every message; the request keeps the first ones only, so
            # a run where every call failed still fits one store item (DynamoDB: 400 KB).
            kept = sum(1 for r in req.key_results if r.msg is not None)
            stored: list[KeyResult] = []
            for r in fresh:
                if r.msg is not None and kept >= MESSAGES_KEPT:
                    r = r.model_copy(update={"msg": None})
                kept += r.msg is not None
                stored.append(r)
            lease = Lease(owner=owner, expires_at=now + lease_for)
            if not fresh:
                return _Change(advance(req, lease=lease), OutcomeCode.STEP_RECORDED, "Renewed.")
            changes: dict[str, Any] = {"key_results": (*req.key_results, *stored), "lease": lease}
            told: list[tuple[NoticeKind, dict[str, Any]]] = []
            if req.progress_at is None or now - req.progress_at >= progress_every:
                changes["progress_at"] = now
                told.append((NoticeKind.REQUEST, {}))
            return _Change(
                advance(req, **changes),
                OutcomeCode.STEP_RECORDED,
                f"{len(fresh)} results recorded.",
                [
                    (
                        EventType.STEP,
                        SYSTEM_ACTOR,
                        {"results": [r.model_dump(mode="json", exclude_none=True) for r in fresh]},
                    )
                ],
                told,
            )

        return await self._transact(request_id, step)

    async def finish(self, request_id: str, owner: str, verification: Verification) -> Outcome:
        """End the run: the recorded results and the verification make the report, and the
        request ends as it says (completed, partial, failed)."""

        async def step(req: RevocationRequest, now: datetime) -> Outcome | _Change:
            if (lost := _runner_gate(req, owner)) is not None:
                return lost
            report = ExecutionReport(
                results=tuple(sorted(req.results, key=lambda r: r.index)),
                verification=verification,
                started_at=req.run_started_at or now,
                finished_at=now,
            )
            final = RequestStatus(report.status) if req.bulk is None else _bulk_status(req, report)
            told: list[tuple[NoticeKind, dict[str, Any]]] = [(NoticeKind.VERIFICATION, {})]
            if req.bulk is not None:
                parts = bulk_parts(len(req.key_results))
                told += [
                    (NoticeKind.KEY_TABLE, {"part": k, "of": parts}) for k in range(1, parts + 1)
                ]
            told += [(NoticeKind.SUMMARY, {}), (NoticeKind.REQUEST, {})]
            if req.undo_of:
                told.append((NoticeKind.ORIGINAL, {}))
            return _Change(
                advance(req, final, report=report, lease=None),
                OutcomeCode.FINISHED,
                f"Finished: {final}.",
                _report_events(report, final),
                told,
            )

        return await self._transact(request_id, step)

    # --- the outbox (the drainer) ----------------------------------------------------------------

    async def claim_outbox(self, request_id: str, owner: str, lease_for: timedelta) -> Outcome:
        """Take a request's undelivered notices for `owner` to deliver, in order, until
        `lease_for` from now. `taken_from` names a holder whose lease lapsed: whatever it was
        posting may be in Slack already, so the new holder looks before posting again."""

        async def step(req: RevocationRequest, now: datetime) -> Outcome | _Change:
            if not req.undelivered:
                return _refuse(OutcomeCode.NOT_FOUND, "Nothing to deliver.", req)
            held = req.courier
            if held is not None and held.held_by_other(owner, now):
                return _refuse(OutcomeCode.HELD, "Another drainer is delivering these.", req)
            lease = Lease(owner=owner, expires_at=now + lease_for)
            return _Change(
                advance(req, courier=lease),
                OutcomeCode.CLAIMED,
                "Delivering.",
                taken_from=held.owner if held is not None and held.owner != owner else None,
            )

        return await self._transact(request_id, step)

    async def delivered(
        self,
        request_id: str,
        owner: str,
        upto: int,
        lease_for: timedelta,
        message_ts: str | None = None,
    ) -> Outcome:
        """Notices up to seq `upto` are in Slack (the request message at `message_ts` when this
        delivery posted it). The lease is renewed, or let go once nothing is left."""

        async def step(req: RevocationRequest, now: datetime) -> Outcome | _Change:
            if req.courier is None or req.courier.owner != owner:
                return _refuse(OutcomeCode.LEASE_LOST, "Another drainer took these over.", req)
            changes: dict[str, Any] = {"delivered": max(req.delivered, upto)}
            events: list[tuple[EventType, str, dict[str, Any]]] = []
            if message_ts is not None and req.message_ts is None:
                changes["message_ts"] = message_ts
                data = {"channel_id": req.channel_id, "message_ts": message_ts}
                events.append((EventType.POSTED, SYSTEM_ACTOR, data))
            left = changes["delivered"] < len(req.notices)
            changes["courier"] = Lease(owner=owner, expires_at=now + lease_for) if left else None
            return _Change(advance(req, **changes), OutcomeCode.DELIVERED, "Delivered.", events)

        return await self._transact(request_id, step)

    # --- machinery --------------------------------------------------------------------------------

    def _pending_gate(self, req: RevocationRequest, now: datetime) -> Outcome | _Change | None:
        """None if the request can still be decided; else the refusal, or the expiry to record."""
        if req.status is not RequestStatus.PENDING:
            return _refuse(OutcomeCode.NOT_PENDING, self.describe_decision(req), req)
        if req.is_due(now):
            return self._expire(req, now)
        return None

    def _end(
        self,
        req: RevocationRequest,
        status: RequestStatus,
        user_id: str,
        now: datetime,
        note: str | None,
    ) -> _Change:
        """A pending request rejected or cancelled by a person: who, when, their note, one event."""
        return _Change(
            advance(req, status, decided_by=user_id, decided_at=now, decision_note=note),
            OutcomeCode(status.value),
            f"{status.value.capitalize()} by {self._name(user_id)} at {format_time(now)}.",
            [(EventType(status.value), user_id, {"note": note})],
            [(NoticeKind.REQUEST, {}), (NoticeKind(status.value), {})],
        )

    def _expire(self, req: RevocationRequest, now: datetime) -> _Change:
        new = advance(req, RequestStatus.EXPIRED, decided_at=req.expires_at)
        data = {"expires_at": req.expires_at.isoformat(), "approvals": len(req.approvals)}
        return _Change(
            new,
            OutcomeCode.EXPIRED,
            f"This request expired at {format_time(req.expires_at)}; nothing was changed in IAM. "
            "Start a new request if it is still needed.",
            [(EventType.EXPIRED, SYSTEM_ACTOR, data)],
            [(NoticeKind.REQUEST, {}), (NoticeKind.EXPIRED, {})],
        )

    def describe_decision(self, req: RevocationRequest) -> str:
        """Who ended a request that is no longer pending, and when, in plain words."""
        who = self._name(req.decided_by) if req.decided_by else "someone"
        when = format_time(req.decided_at) if req.decided_at else "an unknown time"
        match req.status:
            case RequestStatus.PENDING:
                return "This request is still waiting for approval."
            case RequestStatus.APPROVED:
                return f"{who} already approved this request at {when}."
            case RequestStatus.EXECUTING:
                return f"{who} already approved this request at {when}; it is being carried out."
            case RequestStatus.COMPLETED | RequestStatus.PARTIAL | RequestStatus.FAILED:
                return f"{who} approved this request at {when}; it has finished ({req.status})."
            case RequestStatus.REJECTED:
                return f"{who} rejected this request at {when}."
            case RequestStatus.CANCELLED:
                return f"{who} cancelled this request at {when}."
            case RequestStatus.EXPIRED:
                return f"This request expired at {when} without enough approvals."

    async def _transact(self, request_id: str, step: _Step, now: datetime | None = None) -> Outcome:
        """Read, decide, compare-and-set; on a lost race read again and decide again."""
        if not validation.REQUEST_ID.fullmatch(request_id):
            # The id came from a button value or a form's metadata: checked before any store
            # read, and never quoted back (a refusal keeps mentions, so it could carry one).
            return Outcome(code=OutcomeCode.NOT_FOUND, message="That is not a request id.")
        for _ in range(self._max_attempts):
            await self._foreground.quiet()
            req = await self._store.get(request_id)
            if req is None:
                return Outcome(
                    code=OutcomeCode.NOT_FOUND, message=f"There is no request {request_id}."
                )
            at = now or self._now()
            decision = await step(req, at)
            if isinstance(decision, Outcome):
                return decision
            events: list[AuditEvent] = []
            if decision.events:
                head = await self._store.last_event(req.id)
                for type_, actor, data in decision.events:
                    head = new_event(head, req.id, type_, actor, at, data)
                    events.append(head)
            new = decision.new
            if decision.notices:
                n = len(new.notices)
                added = (
                    Notice(seq=n + i, kind=kind, data=data, at=at)
                    for i, (kind, data) in enumerate(decision.notices, start=1)
                )
                new = new.model_copy(update={"notices": (*new.notices, *added)})
            if await self._store.compare_and_set(req, new, events):
                self._written(new)
                return Outcome(
                    code=decision.code,
                    message=decision.message,
                    changed=True,
                    request=new,
                    taken_from=decision.taken_from,
                )
        return Outcome(
            code=OutcomeCode.BUSY,
            message="Too many people changed this request at once; please try again.",
        )


# Keys listed per thread reply of a bulk plan or its results: a reply stays well inside Slack's
# limits (50 blocks, 3,000 characters a section) with a line of ~100 characters a key.
KEYS_PER_REPLY = 100


# IAM's messages kept with a bulk request's results (each at most 300 characters); the rest are
# in the audit events of their batches.
MESSAGES_KEPT = 200


def bulk_parts(n: int) -> int:
    return max(1, -(-n // KEYS_PER_REPLY))


def _bulk_status(req: RevocationRequest, report: ExecutionReport) -> RequestStatus:
    """Completed when every call did its part and verification holds; partial when some did;
    failed when none did. A failed key never stops the others."""
    counts = req.bulk_counts()
    if counts[KeyOutcome.ERROR] == 0 and report.verification.holds:
        return RequestStatus.COMPLETED
    if counts[KeyOutcome.DONE] or counts[KeyOutcome.ALREADY]:
        return RequestStatus.PARTIAL
    return RequestStatus.FAILED


def _clean_note(note: str | None) -> str | None:
    """A reject or cancel note as stored: stripped, secrets redacted; None when blank."""
    return redact_free_text(note.strip()) if note and note.strip() else None


_UNDER_WAY = {
    RequestStatus.PENDING: "it is waiting for approval",
    RequestStatus.APPROVED: "it is approved and about to run",
    RequestStatus.EXECUTING: "it is being carried out",
}


def _same_follow_up(taken: RevocationRequest, request: RevocationRequest) -> bool:
    """`taken` asks for what `request` would: the retry, or the same undo, of one request."""
    if request.retry_of is not None:
        return taken.retry_of == request.retry_of
    return (
        request.undo_of is not None
        and taken.undo_of == request.undo_of
        and taken.plan.actions == request.plan.actions
        and (taken.bulk is None) == (request.bulk is None)
    )


def _under_way(req: RevocationRequest, now: datetime) -> bool:
    """Not ended: pending (and not past its TTL, expired in fact), approved or executing. Until
    it ends, a second request of the same keys would only race it."""
    return req.status in ACTIVE_STATUSES and not req.is_due(now)


def _refuse(code: OutcomeCode, message: str, req: RevocationRequest) -> Outcome:
    return Outcome(code=code, message=message, request=req)


def _channel_gate(req: RevocationRequest, channel_id: str | None) -> Outcome | None:
    """A click on a request must come from the channel it was posted in: a payload naming
    another channel (copied, replayed or forged) decides nothing, not even an expiry."""
    if channel_id is None or channel_id == req.channel_id:
        return None
    return _refuse(
        OutcomeCode.WRONG_CHANNEL,
        "That request belongs to another channel; nothing was changed. Decide it there.",
        req,
    )


def _runner_gate(req: RevocationRequest, owner: str) -> Outcome | None:
    """None while `owner` holds the request's execution; else why it may not write."""
    if req.status is not RequestStatus.EXECUTING:
        return _refuse(
            OutcomeCode.NOT_EXECUTING, f"This request is {req.status}, not executing.", req
        )
    if req.lease is None or req.lease.owner != owner:
        return _refuse(
            OutcomeCode.LEASE_LOST, "Another runner took this request over; stopping.", req
        )
    return None


def _step_data(result: StepResult) -> dict[str, Any]:
    data = result.model_dump(mode="json")
    data["message"] = redact_secrets(result.message)
    return data


def _requested_data(req: RevocationRequest) -> dict[str, Any]:
    """What was asked, for the audit: ids, names, fingerprints, the exact IAM calls; no secrets."""
    t = req.plan.target
    return {
        "channel_id": req.channel_id,
        "reason": req.reason,
        "required_approvals": req.required_approvals,
        "expires_at": req.expires_at.isoformat(),
        "undo_of": req.undo_of,
        **({} if req.retry_of is None else {"retry_of": req.retry_of}),
        "target": {
            "kind": t.kind,
            "account": t.account,
            "account_id": t.account_id,
            "user_name": t.user_name,
            "credential_id": t.credential.credential_id if t.credential else None,
            "role_arn": t.role.arn if t.role else None,
            "key_fingerprint": t.key.fingerprint if t.key else None,
        },
        "actions": list(req.plan.actions),
        "calls": [{"operation": s.operation, "params": s.params} for s in req.plan.steps],
        **({} if req.bulk is None else {"bulk": _bulk_data(req.bulk)}),
    }


def _bulk_data(plan: BulkPlan) -> dict[str, Any]:
    """The snapshot as approved, for the audit: the scope and every key (ids, not secrets)."""
    return {
        "scope": plan.scope.model_dump(mode="json"),
        "resolved_at": plan.resolved_at.isoformat(),
        "keys": [f"{k.user_name}/{k.credential_id}" for k in plan.keys],
        "calls": plan.call_count,
        "deny_document": plan.deny_document,
    }


def _report_events(
    report: ExecutionReport, final: RequestStatus
) -> list[tuple[EventType, str, dict[str, Any]]]:
    events: list[tuple[EventType, str, dict[str, Any]]] = []
    verified = report.verification.model_dump(mode="json")
    verified["holds"] = report.verification.holds
    events.append((EventType.VERIFIED, SYSTEM_ACTOR, verified))
    elapsed = (report.finished_at - report.started_at).total_seconds()
    events.append(
        (
            EventType(final.value),
            SYSTEM_ACTOR,
            {
                "started_at": report.started_at.isoformat(),
                "finished_at": report.finished_at.isoformat(),
                "elapsed_seconds": round(elapsed, 3),
            },
        )
    )
    return events
