"""AWS clients for IAM, STS, CloudTrail and Secrets Manager, one set per target account.

Clients are created once per (account, role session) and reused: creating a client loads the
service model and costs far more than a call. With `REVOKER_ACCOUNTS` configured, each account is
reached by assuming its role; the temporary credentials are cached and refreshed a few minutes
before they expire, so a request that is resolved, approved and executed over half an hour makes
one AssumeRole call. Without accounts, the tool's own credentials (the standard chain) are used.

Endpoints come from the standard AWS configuration, `AWS_ENDPOINT_URL` included (botocore reads it
itself), which is how tests and the demo point everything at moto.

`AWS_BEARER_TOKEN_BEDROCK` is a Bedrock API key, not an AWS credential. botocore only ever uses
such a token for services whose signing name is `bedrock`; IAM, STS and Secrets Manager are always
SigV4-signed with real credentials. Nothing here reads the variable.

The clients are botocore's own, the same objects boto3 hands out: boto3 only adds resources and S3
transfers, and importing it (s3transfer with it) would slow every start of `serve`. botocore itself
is imported when the first client is made, in a worker thread after a Slack ack, not when `serve`
starts: it is about a sixth of the start-up, and answering Slack needs none of it.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from bot.config import AccountConfig, Settings

if TYPE_CHECKING:
    from botocore.config import Config
    from botocore.loaders import Loader
    from botocore.session import Session
    from mypy_boto3_cloudtrail import CloudTrailClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sts import STSClient

SESSION_NAME_PREFIX = "bedrock-revoker"
# RoleSessionName: 2..64 of [\w+=,.@-]. Anything else in a request id is replaced, not rejected,
# because the session name is a label for CloudTrail, not an input.
_SESSION_NAME_UNSAFE = re.compile(r"[^\w+=,.@-]")
ASSUME_ROLE_SECONDS = 3600
# One client set per role session name; a request id in the name makes CloudTrail show which
# request made each call. Old request sessions are dropped once this many are cached.
MAX_CACHED_SESSIONS = 64

Clock = Callable[[], datetime]

# botocore's DEBUG logging dumps request and response bodies and headers. Some carry secrets:
# a reset's new Bedrock key secret (IAM's answer), the secret stored in Secrets Manager (the
# request), AssumeRole's temporary credentials (STS's answer), the external id (the request) and
# session tokens (a header of every call made with them). Filters act on records of the logger
# they are attached to, so each logger that dumps bodies or headers gets one. This sits at the
# source, whatever handler the application or a test installs.
_SECRET_MARKERS = (
    "ServiceCredentialSecret",
    "ServicePassword",
    "SecretString",
    "SecretBinary",
    "SecretAccessKey",
    "SessionToken",
    "X-Amz-Security-Token",
    "ExternalId",
)
# Header names appear lower-cased in botocore's canonical-request dumps.
_FOLDED_MARKERS = tuple(m.lower() for m in _SECRET_MARKERS)
_BODY_LOGGERS = (
    "botocore.parsers",
    "botocore.endpoint",
    "botocore.hooks",
    "botocore.auth",
    "botocore.awsrequest",
    "botocore.httpsession",
    "botocore.retryhandler",
    "botocore.retries.standard",
    "botocore.credentials",
    "urllib3.connectionpool",
)
WITHHELD = "[bedrock-revoker: message withheld, it carried a secret]"


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record is not ours to fix; logging reports it
            return True
        folded = text.lower()
        if any(marker in folded for marker in _FOLDED_MARKERS):
            record.msg = WITHHELD
            record.args = ()
        return True


def install_log_redaction() -> None:
    """Attach the filter to botocore's body-dumping loggers (idempotent)."""
    for name in _BODY_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CallerIdentity:
    """Who the tool is in an account, from sts:GetCallerIdentity."""

    account_id: str
    arn: str
    user_id: str

    @property
    def role_name(self) -> str | None:
        """The IAM role behind an assumed-role ARN (`arn:aws:sts::A:assumed-role/NAME/session`)."""
        resource = self.arn.split(":", 5)[-1]
        parts = resource.split("/")
        if parts[0] == "assumed-role" and len(parts) >= 2:
            return parts[1]
        # A role ARN can show up here when a tool runs with role credentials outside STS.
        if parts[0] == "role" and len(parts) >= 2:
            return parts[-1]
        return None


def session_name(request_id: str | None) -> str:
    if not request_id:
        return SESSION_NAME_PREFIX
    name = f"{SESSION_NAME_PREFIX}-{_SESSION_NAME_UNSAFE.sub('-', request_id)}"
    return name[:64]


# A throttled bulk call is retried this many times in all, slowed by the adaptive rate limiter.
BULK_MAX_ATTEMPTS = 10


class _Clients:
    """The clients of one account and role session; created together, used together."""

    def __init__(
        self,
        session: Session,
        config: Config,
        observers: list[Callable[[Any], None]],
    ) -> None:
        self.iam = cast("IAMClient", session.create_client("iam", config=config))
        self.sts = cast("STSClient", session.create_client("sts", config=config))
        self.secretsmanager = cast(
            "SecretsManagerClient", session.create_client("secretsmanager", config=config)
        )
        self.identity: CallerIdentity | None = None
        self.session = session
        self._config = config
        self._lock = threading.Lock()
        # Event history is per Region: one client per Region asked for, made when first needed.
        self._cloudtrail: dict[str, CloudTrailClient] = {}
        self._observers = observers
        self.observers = observers
        for observe in observers:
            for client in (self.iam, self.sts, self.secretsmanager):
                observe(client)

    def cloudtrail(self, region: str) -> CloudTrailClient:
        with self._lock:
            client = self._cloudtrail.get(region)
            if client is None:
                client = cast(
                    "CloudTrailClient",
                    self.session.create_client(
                        "cloudtrail", region_name=region, config=self._config
                    ),
                )
                for observe in self._observers:
                    observe(client)
                self._cloudtrail[region] = client
            return client


class AwsClients:
    """Per-account AWS clients. Thread-safe: resolution and execution run in worker threads.

    `session`: the botocore session for the tool's own credentials; by default a new one in
    `settings.aws_region`, with the standard credential chain, made with the first client."""

    def __init__(
        self,
        settings: Settings,
        *,
        session: Session | None = None,
        clock: Clock = _utc_now,
    ) -> None:
        install_log_redaction()
        self.settings = settings
        self._clock = clock
        self._given_session = session
        self._base: tuple[Session, Config] | None = None
        self._base_lock = threading.Lock()  # taken after _lock when both are held
        self._lock = threading.Lock()
        self._own: _Clients | None = None
        self._assumed: OrderedDict[tuple[str, str], _Clients] = OrderedDict()
        self._observers: list[Callable[[Any], None]] = []

    def observe(self, observer: Callable[[Any], None]) -> None:
        """Call `observer` with every AWS client made from now on (metrics hook their events)."""
        with self._lock:
            self._observers.append(observer)

    def _session_and_config(self) -> tuple[Session, Config]:
        """The base session and every client's Config, made (botocore imported) on first use."""
        with self._base_lock:
            if self._base is None:
                from botocore.config import Config

                config = Config(
                    retries={"mode": "standard"},
                    connect_timeout=self.settings.aws_connect_timeout,
                    read_timeout=self.settings.aws_read_timeout,
                )
                session = self._given_session or regional_session(self.settings.aws_region)
                self._base = (session, config)
            return self._base

    @property
    def region(self) -> str:
        region: str | None = self._session_and_config()[0].get_config_variable("region")
        return region or self.settings.aws_region

    def account_config(self, account: str | None) -> AccountConfig | None:
        """The configured account; raises InvalidInput(field="account") for an unknown name."""
        return self.settings.account(account)

    def _own_clients(self) -> _Clients:
        with self._lock:
            if self._own is None:
                self._own = _Clients(*self._session_and_config(), self._observers)
            return self._own

    def _clients(self, account: str | None, request_id: str | None) -> _Clients:
        config = self.account_config(account)
        if config is None or account is None:
            return self._own_clients()
        key = (account, session_name(request_id))
        with self._lock:
            found = self._assumed.get(key)
            if found is not None:
                self._assumed.move_to_end(key)
                return found
        # Built outside the lock: the base STS client takes the lock itself.
        built = _Clients(
            self._assumed_session(config, key[1]), self._session_and_config()[1], self._observers
        )
        with self._lock:
            found = self._assumed.setdefault(key, built)
            self._assumed.move_to_end(key)
            while len(self._assumed) > MAX_CACHED_SESSIONS:
                self._assumed.popitem(last=False)
            return found

    def _assumed_session(self, config: AccountConfig, role_session_name: str) -> Session:
        from bot.role_credentials import refreshed_by

        base_sts = self._own_clients().sts

        def refresh() -> dict[str, Any]:
            params: dict[str, Any] = {
                "RoleArn": config.role_arn,
                "RoleSessionName": role_session_name,
                "DurationSeconds": ASSUME_ROLE_SECONDS,
            }
            if config.external_id is not None:
                params["ExternalId"] = config.external_id.get_secret_value()
            creds = base_sts.assume_role(**params)["Credentials"]
            return {
                "access_key": creds["AccessKeyId"],
                "secret_key": creds["SecretAccessKey"],
                "token": creds["SessionToken"],
                "expiry_time": creds["Expiration"].astimezone(UTC).isoformat(),
            }

        session = regional_session(self.region)
        # Share the already-loaded service models instead of reading them from disk again (a
        # base session given by the caller may have its own loader).
        base = self._session_and_config()[0]
        session.register_component("data_loader", base.get_component("data_loader"))
        session.register_component("credential_provider", refreshed_by(refresh, self._clock))
        return session

    def iam(self, account: str | None = None, *, request_id: str | None = None) -> IAMClient:
        return self._clients(account, request_id).iam

    def bulk_iam(
        self, account: str | None = None, *, request_id: str | None = None, workers: int
    ) -> IAMClient:
        """An IAM client for a bulk run: botocore's `adaptive` retries, so throttling slows the
        run down instead of failing keys, and a connection for each of `workers` threads. Made
        per run (its rate limiter learns one run's throttling)."""
        from botocore.config import Config

        clients = self._clients(account, request_id)
        config = self._session_and_config()[1].merge(
            Config(
                retries={"mode": "adaptive", "max_attempts": BULK_MAX_ATTEMPTS},
                max_pool_connections=max(workers, 10),
            )
        )
        client = cast("IAMClient", clients.session.create_client("iam", config=config))
        for observe in clients.observers:
            observe(client)
        return client

    def sts(self, account: str | None = None, *, request_id: str | None = None) -> STSClient:
        return self._clients(account, request_id).sts

    def secretsmanager(
        self, account: str | None = None, *, request_id: str | None = None
    ) -> SecretsManagerClient:
        return self._clients(account, request_id).secretsmanager

    def cloudtrail(
        self, account: str | None = None, *, region: str, request_id: str | None = None
    ) -> CloudTrailClient:
        """CloudTrail in `region` of that account (event history is kept per Region)."""
        return self._clients(account, request_id).cloudtrail(region)

    def bot_roles(self) -> tuple[str, ...]:
        """Every role this bot acts as, `arn:aws:iam::<account>:role/<name>`: the one it runs as
        (its base identity, e.g. an ECS task role, when that is a role) and the one it assumes in
        each configured account. Changing any of them could lock the bot out mid-incident."""
        roles = {
            f"arn:aws:iam::{a.account_id}:role/{a.role_arn.rsplit('/', 1)[-1]}"
            for a in self.settings.accounts.values()
        }
        base = self.caller_identity(None)  # asked once, then cached with the base clients
        if base.role_name is not None:
            roles.add(f"arn:aws:iam::{base.account_id}:role/{base.role_name}")
        return tuple(sorted(roles))

    def caller_identity(
        self, account: str | None = None, *, request_id: str | None = None
    ) -> CallerIdentity:
        """sts:GetCallerIdentity in that account, asked once per client set."""
        clients = self._clients(account, request_id)
        if clients.identity is None:
            answer = clients.sts.get_caller_identity()
            clients.identity = CallerIdentity(
                account_id=answer["Account"], arn=answer["Arn"], user_id=answer["UserId"]
            )
        return clients.identity


_loader_lock = threading.Lock()
_shared_loader: Loader | None = None


def regional_session(region: str | None) -> Session:
    """A botocore session whose clients default to `region` (None: the standard configuration's),
    with the standard credential chain. Every such session shares one model loader: a new one
    reads and parses each service's model and the endpoint rules from disk again (tenths of a
    second for DynamoDB's), and its cache keeps them only for its own session."""
    global _shared_loader
    import botocore.session

    session = botocore.session.get_session()
    if region is not None:
        session.set_config_variable("region", region)
    with _loader_lock:
        if _shared_loader is None:
            # The first session's own, so AWS_DATA_PATH is honoured as botocore would.
            _shared_loader = session.get_component("data_loader")
        else:
            session.register_component("data_loader", _shared_loader)
    return session


__all__ = [
    "AwsClients",
    "CallerIdentity",
    "RedactSecrets",
    "install_log_redaction",
    "regional_session",
    "session_name",
]
