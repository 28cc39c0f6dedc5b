"""`bedrock-revoker`: the command line. One function per subcommand, registered in COMMANDS.

To add a subcommand, write `_add_<name>(subparsers)` that adds its parser and sets
`handler=<function(args) -> int>`, and append it to COMMANDS. Handlers print results to stdout and
problems to stderr as one `error: <message>` line, and return the exit code: 0 done, 1 failed,
2 bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot import keys, policies
from bot.config import SettingsError, load_settings
from bot.errors import RevokerError

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

Subparsers = Any  # argparse's _SubParsersAction is private; its type is not worth importing
Handler = Callable[[argparse.Namespace], int]

# Enough for any real key (session tokens make the longest) while bounding what a runaway pipe
# can make us read into memory.
_STDIN_LIMIT = keys.MAX_KEY_LENGTH * 4


def _version() -> str:
    # From the installed distribution rather than bot.__version__: an editable install made
    # before bot/__init__.py existed imports `bot` as a namespace package without it.
    try:
        return version("bedrock-key-revoker")
    except PackageNotFoundError:
        return "unknown"


def _error(message: str, exit_code: int = EXIT_USAGE) -> int:
    print(f"error: {message}", file=sys.stderr)
    return exit_code


def _read_stdin(what: str, limit: int = -1) -> str | None:
    """Stdin (at most `limit` characters), prompting a person at a terminal; None without one."""
    stdin = sys.stdin
    if stdin is None:
        return None
    if stdin.isatty():
        print(f"paste {what} and press Ctrl-D", file=sys.stderr)
    return stdin.read(limit)


# --- inspect-key -----------------------------------------------------------------------------


def _add_inspect_key(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "inspect-key",
        help="decode a leaked Bedrock API key read from stdin",
        description=(
            "Read a leaked Bedrock API key from stdin and print, as JSON, what it decodes to: "
            "kind, account, IAM user or signing access key id, region, issue and expiry times, "
            "and a fingerprint. Nothing is sent to AWS; the secret is never printed."
        ),
    )
    parser.set_defaults(handler=inspect_key)


def inspect_key(args: argparse.Namespace) -> int:
    text = _read_stdin("the key", _STDIN_LIMIT)
    if text is None:
        return _error("no stdin to read the key from")
    try:
        decoded = keys.decode(text)
    except RevokerError as err:
        return _error(err.message)
    report = decoded.model_dump(mode="json", exclude_none=True)
    print(json.dumps(report, indent=2, sort_keys=True))
    return EXIT_OK


# --- investigate -----------------------------------------------------------------------------


def _add_investigate(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "investigate",
        help="read-only: what a leaked key did and what its principal holds, as JSON",
        description=(
            "Read a leaked Bedrock API key from stdin, find its owner or signer (IAM, CloudTrail) "
            "and print, as JSON, the blast-radius report the bot posts before approval: calls "
            "made with the key, and the principal's access keys, console password, other "
            "credentials and recent identity changes, each with its source. Nothing is changed "
            "in AWS; the key is never printed."
        ),
    )
    parser.add_argument("--role", help="the signing role, when CloudTrail cannot say")
    parser.add_argument("--account", help="the configured account (REVOKER_ACCOUNTS) to look in")
    parser.set_defaults(handler=investigate)


def investigate(args: argparse.Namespace) -> int:
    text = _read_stdin("the key", _STDIN_LIMIT)
    if text is None:
        return _error("no stdin to read the key from")
    try:
        decoded = keys.decode(text)
        settings = load_settings()
    except SettingsError as err:
        return _error(str(err))
    except RevokerError as err:
        return _error(err.message)
    del text
    from bot.revocation.service import Revoker

    revoker = Revoker(settings)

    async def run() -> dict[str, object]:
        target = await revoker.resolve(decoded, role=args.role, account=args.account)
        report = await revoker.blast_radius(target)
        return {
            "key": decoded.model_dump(mode="json", exclude_none=True),
            "account_id": target.account_id,
            "user_name": target.user_name,
            "role_arn": target.role.arn if target.role else None,
            "signer": target.signer.model_dump(mode="json", exclude_none=True)
            if target.signer
            else None,
            "blast_radius": report.model_dump(mode="json", exclude_none=True),
        }

    try:
        out = asyncio.run(run())
    except RevokerError as err:
        return _error(err.message, EXIT_FAILED)
    print(json.dumps(out, indent=2, sort_keys=True))
    return EXIT_OK


# --- policy ----------------------------------------------------------------------------------


def _add_policy(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "policy",
        help="print a policy document exactly as the bot would attach it",
        description="Print a policy document exactly as the bot would attach it.",
    )
    kinds = parser.add_subparsers(dest="policy", metavar="POLICY", required=True)

    deny = kinds.add_parser(
        "deny-bearer-token",
        help=f"the deny policy attached as {policies.DENY_POLICY_NAME}-<plan tag>",
        description=(
            "The policy that stops every Bedrock API key of the user or role it is attached to, "
            f"attached inline as {policies.DENY_POLICY_NAME}-<plan tag> (one per request). "
            "Without --action, the actions "
            "configured in REVOKER_DENY_ACTIONS (default: bedrock and bedrock-mantle)."
        ),
    )
    deny.add_argument(
        "--action",
        dest="actions",
        action="append",
        metavar="SERVICE:CallWithBearerToken",
        help="an action to deny; repeat for several",
    )
    deny.set_defaults(handler=policy_deny_bearer_token)

    revoke = kinds.add_parser(
        "revoke-sessions",
        help=(
            f"the session revocation attached as {policies.SESSION_CUTOFF_POLICY_PREFIX}-<plan tag>"
        ),
        description=(
            "The policy that denies everything to a role's sessions issued before a time, "
            f"attached inline as {policies.SESSION_CUTOFF_POLICY_PREFIX}-<plan tag> (one per "
            "request; the same document as the IAM console's AWSRevokeOlderSessions)."
        ),
    )
    revoke.add_argument(
        "--before",
        metavar="ISO-8601",
        help="cutoff with a timezone, e.g. 2025-01-31T12:00:00Z or ...+02:00 (default: now)",
    )
    revoke.set_defaults(handler=policy_revoke_sessions)


def policy_deny_bearer_token(args: argparse.Namespace) -> int:
    actions: Sequence[str] | None = args.actions
    if actions is None:
        # The configured actions, so the printed document is the one this deployment attaches.
        try:
            actions = load_settings().deny_actions
        except SettingsError as err:
            return _error(str(err))
    try:
        document = policies.deny_bearer_token(actions)
    except RevokerError as err:
        return _error(err.message)
    print(policies.to_json(document))
    return EXIT_OK


def policy_revoke_sessions(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    before = now
    if args.before is not None:
        parsed = _parse_time(args.before)
        if parsed is None:
            return _error("--before is not an ISO-8601 time (e.g. 2025-01-31T12:00:00Z)")
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            return _error("--before needs a timezone: add Z for UTC or an offset like +02:00")
        before = parsed
    try:
        document = policies.revoke_older_sessions(before, now=now)
    except RevokerError as err:
        return _error(err.message)
    print(policies.to_json(document))
    return EXIT_OK


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        return None


# --- serve ---------------------------------------------------------------------------------


def _add_serve(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the Slack app (Socket Mode when SLACK_APP_TOKEN is set, else HTTP)",
        description="Run the Slack app. Configuration comes from the environment (see README).",
    )
    parser.set_defaults(handler=serve)


def serve(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from bot.startup import uncollected

    # The app's imports are most of the time to /healthz; see bot.startup for why uncollected.
    with uncollected():
        from bot.config import startup_line
        from bot.logs import configure_logging
        from bot.services import build_services, store_answers
        from handlers.app import ConfigurationError
        from handlers.app import serve as serve_app

    try:
        # Every problem at once, before anything (a database file, a connection) is created.
        settings = load_settings(serving=True)
    except SettingsError as exc:
        return _error(str(exc))
    configure_logging(settings.log_format or "json")
    logging.getLogger("bot.cli").info(startup_line(settings, _version()))

    async def checked_then_served() -> None:
        services = build_services(settings)
        try:
            # A missing DynamoDB table or an unreadable database stops start-up here, named,
            # instead of surfacing in the first request.
            await store_answers(services.store)
        except BaseException:
            await services.store.close()
            raise
        await serve_app(services)

    try:
        asyncio.run(checked_then_served())
    except (ConfigurationError, RevokerError) as exc:
        return _error(str(exc), EXIT_FAILED)
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_OK


# --- store -----------------------------------------------------------------------------------


def _add_store(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "store",
        help="create the request store REVOKER_DATABASE_URL names (store init)",
        description="Manage the request store REVOKER_DATABASE_URL names.",
    )
    actions = parser.add_subparsers(dest="store", metavar="ACTION", required=True)
    init = actions.add_parser(
        "init",
        help="create the DynamoDB table (or SQLite file) the bot stores requests in",
        description=(
            "Create the store REVOKER_DATABASE_URL names, once per deployment: for "
            "dynamodb://table-name the table (on-demand billing, the keys and indexes the bot "
            "queries; the same as deploy/cloudformation/bot.yaml creates) in AWS_DEFAULT_REGION, "
            "and wait until it is active; for sqlite:///path the file and its tables. An "
            "existing store is left as it is. `serve` and `audit export` never create a "
            "DynamoDB table themselves."
        ),
    )
    init.set_defaults(handler=store_init)


def store_init(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from bot.doctor import sqlite_file
    from bot.services import open_configured_store
    from bot.store.dynamodb import DynamoDbStore

    try:
        settings = load_settings()
    except SettingsError as err:
        return _error(str(err))
    path = sqlite_file(settings.database_url)
    existed = path is not None and path != ":memory:" and os.path.exists(path)
    try:
        store = open_configured_store(settings)  # SQLite makes its file and tables here
    except RevokerError as err:
        return _error(err.message, EXIT_FAILED)
    try:
        if isinstance(store, DynamoDbStore):
            try:
                created = store.create_table()
            except (BotoCoreError, ClientError) as exc:
                return _error(
                    f"creating DynamoDB table {store.table!r} failed ({_aws_error(exc)})",
                    EXIT_FAILED,
                )
            where = f"DynamoDB table {store.table!r} in {settings.aws_region}"
            print(f"{where} {'created' if created else 'already exists'}; it is active")
        else:
            print(f"SQLite store {path} {'already exists' if existed else 'created'}")
    finally:
        import asyncio

        asyncio.run(store.close())
    return EXIT_OK


def _aws_error(exc: Exception) -> str:
    # The error code and AWS's message name the table and the missing permission, never a secret.
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    return type(exc).__name__


# --- demo ----------------------------------------------------------------------------------


def _add_demo(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole flow on embedded stand-ins (no Slack or AWS account needed)",
        description=(
            "Run the real app against embedded stand-ins (a local Slack Web API, moto for IAM "
            "and STS, SQLite in a temporary folder) and print the channel and thread as a person "
            "reads them: a leaked key, a request, a refused self-approval, a second person's "
            "approval, the revocation and IAM's state read back. Real AWS and Slack settings in "
            "the environment are ignored. Needs the `demo` extra."
        ),
    )
    parser.add_argument(
        "--short-term",
        action="store_true",
        help="a short-term key signed by a role session: deny_role and revoke_sessions",
    )
    parser.add_argument(
        "--keep-store",
        metavar="DIR",
        type=Path,
        help="keep the request store in DIR (new or empty) to try `audit export` and `verify`",
    )
    parser.set_defaults(handler=run_demo)


_DEMO_FROM_A_CHECKOUT = (
    "python3 -m venv .venv && . .venv/bin/activate && pip install -q -e '.[demo]' && "
    "bedrock-revoker demo"
)


def run_demo(args: argparse.Namespace) -> int:
    import importlib.util

    # The container image leaves the stand-ins out (no moto, no bot/sandbox in production).
    try:
        stand_ins = importlib.util.find_spec("bot.sandbox") is not None
    except ImportError:
        stand_ins = False
    if not stand_ins:
        return _error(
            "the demo runs on stand-ins (moto and bot/sandbox) that this installation leaves "
            "out, as the container image does on purpose. Run it from a checkout of the "
            f"repository: {_DEMO_FROM_A_CHECKOUT}",
            EXIT_FAILED,
        )
    from bot import demo

    return demo.main(short_term=args.short_term, keep_store=args.keep_store)


# --- audit -----------------------------------------------------------------------------------


def _add_audit(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "audit",
        help="export the audit log as JSON lines, or verify its hash chains",
        description="Export the audit log as JSON lines, or verify its hash chains.",
    )
    actions = parser.add_subparsers(dest="audit", metavar="ACTION", required=True)

    export = actions.add_parser(
        "export",
        help="print audit events from the store at REVOKER_DATABASE_URL as JSON lines",
        description=(
            "Print the audit events in the store at REVOKER_DATABASE_URL as JSON lines, one "
            "event per line, each request's events in chain order. --since selects the requests "
            "with an event at or after that time and prints their whole chains, so the output "
            "always verifies with `audit verify`."
        ),
    )
    export.add_argument("--request", metavar="R-…", help="only this request's events")
    export.add_argument(
        "--since",
        metavar="ISO-8601",
        help="a date (UTC) or a time with a timezone, e.g. 2025-01-31 or 2025-01-31T12:00:00Z",
    )
    export.set_defaults(handler=audit_export)

    verify = actions.add_parser(
        "verify",
        help="check the hash chains of the store at REVOKER_DATABASE_URL, or of an export",
        description=(
            "Check every request's hash chain: an edited, dropped or reordered event is "
            "reported, naming the first broken event and its request. With no FILE, the events "
            "are read from the store at REVOKER_DATABASE_URL; with FILE (- for stdin), from an "
            "export. Dropping a chain's last events cannot be detected this way; compare with "
            "an earlier export for that."
        ),
    )
    verify.add_argument(
        "file",
        nargs="?",
        default=None,
        metavar="FILE",
        help="an export to check instead of the store; - for stdin",
    )
    verify.set_defaults(handler=audit_verify)


def audit_export(args: argparse.Namespace) -> int:

    from bot.requests import normalize_request_id

    request_id: str | None = None
    if args.request is not None:
        try:
            request_id = normalize_request_id(args.request)
        except RevokerError as err:
            return _error(f"--request: {err.message}")
    since: datetime | None = None
    if args.since is not None:
        since = _parse_since(args.since)
        if since is None:
            return _error(
                "--since is not a date or an ISO-8601 time with a timezone "
                "(e.g. 2025-01-31 or 2025-01-31T12:00:00Z)"
            )
    lines = _stored_lines(request_id, since)
    if isinstance(lines, int):
        return lines
    if request_id is not None and not lines:
        return _error(f"no audit events for {request_id}", EXIT_FAILED)
    for line in lines:
        print(line)
    return EXIT_OK


def _stored_lines(request_id: str | None = None, since: datetime | None = None) -> list[str] | int:
    """The audit events of the store at REVOKER_DATABASE_URL as exported lines, or the exit
    code after saying why they could not be read."""
    import asyncio
    from pathlib import Path

    from bot.audit import export_lines
    from bot.doctor import sqlite_file
    from bot.services import open_configured_store

    try:
        settings = load_settings()
    except SettingsError as err:
        return _error(str(err))
    path = sqlite_file(settings.database_url)
    # Opening a SQLite path creates the file; a read must not conjure an empty log from a typo.
    if path and path != ":memory:" and not Path(path).exists():
        return _error(f"REVOKER_DATABASE_URL names {path}, which does not exist", EXIT_FAILED)
    try:
        store = open_configured_store(settings)
    except RevokerError as err:
        return _error(err.message)

    async def read() -> list[str]:
        try:
            return await export_lines(store, request_id, since)
        finally:
            await store.close()

    try:
        return asyncio.run(read())
    except RevokerError as err:  # the DynamoDB table does not exist: says to run store init
        return _error(err.message, EXIT_FAILED)
    except Exception as exc:  # the store's own errors vary by backend; none carries a secret
        return _error(f"reading the audit log failed ({type(exc).__name__}: {exc})", EXIT_FAILED)


def _parse_since(text: str) -> datetime | None:
    text = text.strip()
    try:
        if len(text) == 10:  # a bare date: midnight UTC, so the same day everywhere
            return datetime.fromisoformat(text).replace(tzinfo=UTC)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.utcoffset() is not None else None


def audit_verify(args: argparse.Namespace) -> int:
    from bot.audit import verify_lines

    if args.file is None:
        stored = _stored_lines()
        if isinstance(stored, int):
            return stored
        lines = stored
        where = "the store"
    elif args.file == "-":
        stdin_text = _read_stdin("the JSON lines")
        if stdin_text is None:
            return _error("no stdin to read the export from")
        text = stdin_text
    else:
        try:
            # Undecodable bytes become U+FFFD and then fail their hash: reported, not a crash.
            with open(args.file, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError as err:
            return _error(f"cannot read {args.file}: {err.strerror or type(err).__name__}")
    if args.file is not None:
        lines = text.splitlines()
        where = "the input"
    events = sum(1 for line in lines if line.strip())
    problems = verify_lines(lines)
    if not events:
        problems = [f"no audit events in {where}"]
    if problems:
        for problem in problems:
            print(problem)
        print(f"FAILED: {len(problems)} problem(s) in {events} events", file=sys.stderr)
        return EXIT_FAILED
    print(f"ok: {events} events in {where}, every chain intact")
    return EXIT_OK


# --- doctor ----------------------------------------------------------------------------------


def _add_doctor(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check the configuration, Slack, AWS access and the store",
        description=(
            "Check what the bot needs, one line per check: settings, approvers, the Slack token "
            "and its scopes, approver user groups, AWS credentials, IAM read access in every "
            "configured account, and the request store. Exits 1 if any check fails. Nothing "
            "is changed and no secret is printed."
        ),
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="time limit for each check (default: 15)",
    )
    parser.set_defaults(handler=run_doctor)


def run_doctor(args: argparse.Namespace) -> int:
    from bot import doctor

    timeout: float | None = args.timeout
    if timeout is None:
        timeout = doctor.DEFAULT_TIMEOUT
    elif not 0 < timeout <= 600:
        return _error("--timeout must be more than 0 and at most 600 seconds")
    return doctor.run(timeout=timeout)


# --- bulk ------------------------------------------------------------------------------------


def _add_bulk(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "bulk",
        help="resolve a scope of Bedrock API keys (a user's, or an account's) into a plan",
        description="Bulk scopes: every Bedrock API key of one IAM user, or of an account.",
    )
    actions = parser.add_subparsers(dest="bulk", metavar="ACTION", required=True)
    plan = actions.add_parser(
        "plan",
        help="print the resolved plan of a scope as JSON; nothing is changed",
        description=(
            "Resolve a scope against IAM (ListServiceSpecificCredentials; AllUsers for an "
            "account, every page) and print the plan as JSON: every key in the snapshot and "
            "every IAM call an approved request would make. Read-only: changes happen only "
            "through a request approved in Slack."
        ),
    )
    plan.add_argument(
        "--scope", required=True, metavar="user:NAME|account", help="the keys to act on"
    )
    plan.add_argument(
        "--account", metavar="NAME", help="a configured account (default: the bot's own)"
    )
    plan.add_argument(
        "--action",
        dest="actions",
        action="append",
        metavar="deactivate|deny_user|delete",
        help="an action for every key in scope; repeat for several (default: deactivate)",
    )
    plan.add_argument(
        "--created-before",
        metavar="ISO-8601",
        help="only keys created before this time (with a timezone, e.g. 2025-01-31T12:00:00Z)",
    )
    plan.add_argument("--active-only", action="store_true", help="only Active keys")
    plan.add_argument(
        "--console-users-only",
        action="store_true",
        help="only keys of console-made BedrockAPIKey-* users",
    )
    plan.set_defaults(handler=bulk_plan)


def bulk_plan(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError

    from bot.aws import AwsClients
    from bot.revocation import bulk

    created_before = None
    if args.created_before is not None:
        created_before = _parse_time(args.created_before)
        if created_before is None:
            return _error("--created-before is not an ISO-8601 time (e.g. 2025-01-31T12:00:00Z)")
        if created_before.tzinfo is None or created_before.utcoffset() is None:
            return _error("--created-before needs a timezone: add Z for UTC or an offset")
    try:
        settings = load_settings()
    except SettingsError as err:
        return _error(str(err))
    filters = bulk.ScopeFilters(
        created_before=created_before,
        active_only=args.active_only,
        console_users_only=args.console_users_only,
    )
    try:
        scope = bulk.parse_scope(args.scope, account=args.account, filters=filters)
        clients = AwsClients(settings)
        clients.account_config(scope.account)  # an unknown account name is a usage error
        actions = bulk.parse_bulk_actions(args.actions)
    except RevokerError as err:
        return _error(err.message)
    try:
        plan = bulk.resolve_sync(clients, scope, actions, deny_actions=settings.deny_actions)
    except RevokerError as err:
        return _error(err.message, EXIT_FAILED)
    except BotoCoreError as exc:
        return _error(f"AWS could not be reached ({_aws_error(exc)})", EXIT_FAILED)
    print(json.dumps(bulk.plan_json(plan), indent=2, sort_keys=True))
    return EXIT_OK


# --- dispatch --------------------------------------------------------------------------------

COMMANDS: list[Callable[[Subparsers], None]] = [
    _add_inspect_key,
    _add_investigate,
    _add_policy,
    _add_serve,
    _add_store,
    _add_demo,
    _add_audit,
    _add_doctor,
    _add_bulk,
]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="bedrock-revoker",
        description="Revoke leaked Amazon Bedrock API keys through IAM, with a second approver.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in COMMANDS:
        add(subparsers)
    return parser


def _holds_key(arg: str) -> bool:
    """Whether a key is anywhere in `arg` ("key: ABSK…", "xABSK…", "--x=ABSK…", wrapped or
    percent-encoded): argparse quotes whole arguments in its errors."""
    return keys.looks_like_key(arg) or any(
        label == keys.KEY_LABEL for _, _, label in keys.find_secrets(arg)
    )


class _Parser(argparse.ArgumentParser):
    """argparse, with every message it prints (usage errors quote arguments) redacted: the
    second line of defence behind refusing keys in argv."""

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        super()._print_message(keys.redact_secrets(message) if message else message, file)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # argparse quotes unrecognised arguments in its errors; a key typed on the command line must
    # not be printed back (it is already in shell history and process listings).
    if any(_holds_key(arg) for arg in args_list):
        return _error(
            "keys are never taken from the command line; pipe or paste the key into "
            "`bedrock-revoker inspect-key`, and treat your shell history as holding the key"
        )
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exit_:
        # --help, --version and usage errors: argparse has printed; report its code.
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    handler: Handler = args.handler
    return handler(args)
