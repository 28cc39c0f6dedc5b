"""`bedrock-revoker doctor`: is this deployment able to do its job? One line per check.

The checks are the things that, when wrong, are otherwise discovered during an incident: the
configuration, the Slack token and its scopes, approver user groups, the AWS identity and its IAM
read access in every configured account, and the request store. Each line says what was found and,
for a failure, what to change:

    ok   <check>: <detail>
    FAIL <check>: <problem> — fix: <what to do>
    skip <check>: <why it does not apply>

Everything that can block (boto3, SQLite, files) runs in a worker thread, and every check has a
time limit. The worker threads are daemons, so a check that never returns cannot keep the process
alive once its time-out has been reported.

No line ever carries a secret: checks word their own messages (never an exception's text, which
may echo parameters), and every line is scrubbed of the configured secret values and of anything
shaped like a token or key before it is printed.
"""

from __future__ import annotations

# Not used here: tests/test_doctor.py patches `doctor.tempfile.NamedTemporaryFile`, the module
# store_checks creates its probe file with.
import tempfile

from bot.doctor.command import DEFAULT_TIMEOUT, diagnose, run
from bot.doctor.findings import Status, fail, ok, skip
from bot.doctor.scrubbing import Scrubber
from bot.doctor.slack_checks import REQUIRED_SCOPES, missing_scopes
from bot.doctor.store_checks import sqlite_file
from bot.doctor.time_limits import CheckTimeout, off_loop

__all__ = [
    "DEFAULT_TIMEOUT",
    "REQUIRED_SCOPES",
    "CheckTimeout",
    "Scrubber",
    "Status",
    "diagnose",
    "fail",
    "missing_scopes",
    "off_loop",
    "ok",
    "run",
    "skip",
    "sqlite_file",
    "tempfile",
]
