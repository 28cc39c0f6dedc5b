"""`bedrock-revoker`: the command line. One function per subcommand, registered in COMMANDS.

To add a subcommand, write `_add_<name>(subparsers)` that adds its parser and sets
`handler=<function(args) -> int>`, and append it to COMMANDS. Handlers print results to stdout and
problems to stderr as one `error: <message>` line, and return the exit code: 0 done, 1 failed,
2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from bot import keys, policies
from bot.config import SettingsError, load_settings
from bot.errors import RevokerError

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


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE


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
    stdin = sys.stdin
    if stdin is None:
        return _error("no stdin to read the key from")
    if stdin.isatty():
        print("paste the key and press Ctrl-D", file=sys.stderr)
    try:
        decoded = keys.decode(stdin.read(_STDIN_LIMIT))
    except RevokerError as err:
        return _error(err.message)
    report = decoded.model_dump(mode="json", exclude_none=True)
    print(json.dumps(report, indent=2, sort_keys=True))
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
        help=f"the deny policy attached as {policies.DENY_POLICY_NAME}",
        description=(
            "The policy that stops every Bedrock API key of the user or role it is attached to, "
            f"attached inline as {policies.DENY_POLICY_NAME}. Without --action, the actions "
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
        help=f"the session revocation attached as {policies.REVOKE_SESSIONS_POLICY_NAME}",
        description=(
            "The policy that denies everything to a role's sessions issued before a time, "
            f"attached inline as {policies.REVOKE_SESSIONS_POLICY_NAME} (the IAM console's own "
            "name for it)."
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

    from bot.logs import configure_logging
    from bot.services import build_services
    from handlers.app import ConfigurationError
    from handlers.app import serve as serve_app

    try:
        settings = load_settings()
        configure_logging(settings.log_format or "json")
        services = build_services(settings)
        asyncio.run(serve_app(services))
    except (SettingsError, ConfigurationError, RevokerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_OK


# --- dispatch --------------------------------------------------------------------------------

COMMANDS: list[Callable[[Subparsers], None]] = [_add_inspect_key, _add_policy, _add_serve]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bedrock-revoker",
        description="Revoke leaked Amazon Bedrock API keys through IAM, with a second approver.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in COMMANDS:
        add(subparsers)
    return parser


def _holds_key(arg: str) -> bool:
    return keys.looks_like_key(arg) or keys.looks_like_key(arg.partition("=")[2])


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
