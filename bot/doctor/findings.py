"""What a check found, and the one line it prints as."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    OK = "ok"
    FAIL = "FAIL"
    SKIP = "skip"


@dataclass(frozen=True)
class Finding:
    status: Status
    check: str
    detail: str
    fix: str | None = None

    def line(self) -> str:
        text = f"{self.status.value:<4} {self.check}: {self.detail}"
        return f"{text} — fix: {self.fix}" if self.fix else text

    def scrubbed(self, scrub: Callable[[str], str]) -> Finding:
        # Part by part: a whole line reads as `<check> token: <value>` to a pattern that redacts
        # labelled values, and would lose the detail of every check named "... token".
        return Finding(
            self.status,
            scrub(self.check),
            scrub(self.detail),
            scrub(self.fix) if self.fix is not None else None,
        )


def ok(check: str, detail: str) -> Finding:
    return Finding(Status.OK, check, detail)


def fail(check: str, problem: str, fix: str) -> Finding:
    return Finding(Status.FAIL, check, problem, fix)


def skip(check: str, why: str) -> Finding:
    return Finding(Status.SKIP, check, why)


def timed_out(check: str, what: str, limit: float, fix: str) -> Finding:
    return fail(check, f"{what} did not answer within {limit:g}s", fix)
