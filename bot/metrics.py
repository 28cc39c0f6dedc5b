"""Prometheus metrics for one running app (`GET /metrics`), in their own registry.

What an operator watches: requests by outcome, approvals, executions by final status (all counted
from the audit events the store has committed, so a lost race counts nothing), AWS calls by
operation and error code with their latency (botocore's own call events, one per API call
including its retries), and Slack Web API latency by method. Labels are closed sets (operation
and method names, error codes): no user, key or request id ever becomes a label.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bot.audit import AuditEvent, EventType
from bot.requests import RevocationRequest

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Seconds: IAM answers in tens of milliseconds, a retried or throttled call in seconds.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_REQUEST_OUTCOMES = {
    EventType.REQUESTED: "requested",
    EventType.APPROVED: "approved",
    EventType.REJECTED: "rejected",
    EventType.CANCELLED: "cancelled",
    EventType.EXPIRED: "expired",
}
_APPROVALS = {EventType.APPROVAL, EventType.APPROVED}
_EXECUTION_ENDS = {
    EventType.COMPLETED: "completed",
    EventType.PARTIAL: "partial",
    EventType.FAILED: "failed",
}
_SLACK_METHOD = re.compile(r"[a-z]+(?:\.[A-Za-z]+)+")
_STARTED = "bedrock_revoker_started"  # our key in botocore's per-call context


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "bedrock_revoker_requests",
            "Revocation requests by outcome: requested, then approved, rejected, cancelled or "
            "expired.",
            ["outcome"],
            registry=self.registry,
        )
        self.approvals = Counter(
            "bedrock_revoker_approvals",
            "Approvals given (each approver's click that counted).",
            registry=self.registry,
        )
        self.executions = Counter(
            "bedrock_revoker_executions",
            "Executions by final status: completed, partial or failed.",
            ["status"],
            registry=self.registry,
        )
        self.aws_calls = Counter(
            "bedrock_revoker_aws_calls",
            "AWS API calls (IAM, STS, Secrets Manager, CloudTrail) by operation and error code "
            "('none' when it succeeded; the exception's class when AWS was not reached).",
            ["service", "operation", "error_code"],
            registry=self.registry,
        )
        self.aws_latency = Histogram(
            "bedrock_revoker_aws_call_seconds",
            "AWS API call latency, retries included.",
            ["service", "operation"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.slack_latency = Histogram(
            "bedrock_revoker_slack_call_seconds",
            "Slack Web API call latency by method, retries included.",
            ["method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

        self.outbox_depth = Gauge(
            "bedrock_revoker_outbox_notices",
            "Thread messages and message updates written but not yet delivered to Slack, across "
            "all requests in the store (every replica reports the same figure).",
            registry=self.registry,
        )
        self.outbox_oldest = Gauge(
            "bedrock_revoker_outbox_oldest_seconds",
            "Age of the oldest undelivered notice (0 when none waits): how far the channel lags.",
            registry=self.registry,
        )
        self.leases_held = Gauge(
            "bedrock_revoker_runner_leases",
            "Executions this process's runner holds (is carrying out) now.",
            registry=self.registry,
        )

    def observe_work(
        self, active: Sequence[RevocationRequest], leases_held: int, now: datetime
    ) -> None:
        """Set the outbox and runner gauges from the store's active requests."""
        waiting = [n for r in active for n in r.undelivered]
        self.outbox_depth.set(len(waiting))
        times = [n.at for n in waiting if n.at is not None]
        self.outbox_oldest.set(max(0.0, (now - min(times)).total_seconds()) if times else 0.0)
        self.leases_held.set(leases_held)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)

    # --- the audit ---------------------------------------------------------------------------

    def record_events(self, events: Sequence[AuditEvent]) -> None:
        """Count events the store has just committed."""
        for event in events:
            if (outcome := _REQUEST_OUTCOMES.get(event.type)) is not None:
                self.requests.labels(outcome).inc()
            if event.type in _APPROVALS:
                self.approvals.inc()
            if (status := _EXECUTION_ENDS.get(event.type)) is not None:
                self.executions.labels(status).inc()

    # --- AWS ---------------------------------------------------------------------------------

    def observe_aws_client(self, client: Any) -> None:
        """Time and count every API call `client` (a botocore client) makes, through botocore's
        before-call / after-call events."""
        events = client.meta.events
        events.register("before-call", self._aws_started)
        events.register("after-call", self._aws_answered)
        events.register("after-call-error", self._aws_unreached)

    def _aws_started(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        # after-call-error is not given the operation: keep it with the start time.
        service = str(model.service_model.endpoint_prefix)
        context[_STARTED] = (service, str(model.name), time.monotonic())

    def _aws_answered(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        self._aws_done(context, str(parsed.get("Error", {}).get("Code", "")) or "none")

    def _aws_unreached(self, exception: BaseException, context: dict[str, Any], **_: Any) -> None:
        self._aws_done(context, type(exception).__name__)

    def _aws_done(self, context: dict[str, Any], code: str) -> None:
        started = context.pop(_STARTED, None)
        if started is None:
            return
        service, operation, at = started
        self.aws_calls.labels(service, operation, code).inc()
        self.aws_latency.labels(service, operation).observe(time.monotonic() - at)

    # --- Slack -------------------------------------------------------------------------------

    def observe_slack_call(self, method: str, seconds: float) -> None:
        # Only names shaped like Web API methods; a response_url or anything else is "other".
        label = method if _SLACK_METHOD.fullmatch(method) else "other"
        self.slack_latency.labels(label).observe(seconds)
