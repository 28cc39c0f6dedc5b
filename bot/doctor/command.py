"""Every check in order, and the `doctor` command that prints them."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from typing import TextIO

from bot.config import Settings, SettingsError, load_settings, settings_source
from bot.doctor.aws_checks import check_aws
from bot.doctor.configuration_checks import check_configuration
from bot.doctor.findings import Finding, Status, fail, ok, skip
from bot.doctor.scrubbing import SECRET_ENV, Scrubber, settings_secrets
from bot.doctor.slack_checks import check_slack
from bot.doctor.store_checks import check_store

DEFAULT_TIMEOUT = 15.0


async def diagnose(
    settings: Settings | None = None,
    *,
    limit: float = DEFAULT_TIMEOUT,
    scrubber: Scrubber | None = None,
) -> AsyncIterator[Finding]:
    """Every check in order, each finding as soon as it is known.

    Without `settings`, they are loaded from the environment as `serve` loads them; a settings
    error is reported and nothing else is checked (every other check depends on them).
    """
    scrubber = scrubber if scrubber is not None else Scrubber()
    scrubber.add(*(os.environ.get(name) for name in SECRET_ENV))
    if settings is None:
        try:
            settings = load_settings()
        except SettingsError as exc:
            # One line per wrong variable, each with its own fix.
            for problem in exc.problems:
                yield fail(f"settings {problem.variable}", problem.problem, problem.fix)
            yield skip("other checks", f"they need valid settings (read from {settings_source()})")
            return
    scrubber.add(*settings_secrets(settings))
    yield ok("settings", f"loaded from {settings_source()}")
    for finding in check_configuration(settings):
        yield finding
    async for finding in check_slack(settings, limit):
        yield finding
    async for finding in check_aws(settings, limit, os.environ, scrubber):
        yield finding
    yield await check_store(settings, limit)


async def _report(out: TextIO, limit: float) -> int:
    scrubber = Scrubber()
    failed = 0
    async for finding in diagnose(limit=limit, scrubber=scrubber):
        failed += finding.status is Status.FAIL
        print(finding.scrubbed(scrubber).line(), file=out, flush=True)
    summary = (
        f"{failed} check{'s' if failed != 1 else ''} failed" if failed else "all checks passed"
    )
    print(summary, file=out)
    return 1 if failed else 0


def run(out: TextIO | None = None, timeout: float = DEFAULT_TIMEOUT) -> int:
    """The `doctor` command: print the findings; 1 if any check failed, else 0."""
    return asyncio.run(_report(out or sys.stdout, timeout))
