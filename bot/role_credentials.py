"""Credentials of a configured account's role for botocore: AssumeRole on first use, refreshed a
few minutes before they expire.

Its own module because botocore's credential classes are imported only once a role is first
assumed, not when `serve` starts (see bot.aws).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from botocore.credentials import (
    CredentialProvider,
    CredentialResolver,
    DeferredRefreshableCredentials,
)

# Refresh a little before expiry so an IAM call never goes out with credentials that die in
# flight; a few minutes covers connect/read timeouts times the standard retry attempts.
REFRESH_BEFORE_EXPIRY_SECONDS = 5 * 60
MANDATORY_REFRESH_SECONDS = 2 * 60


class _ShortRefreshCredentials(DeferredRefreshableCredentials):
    """Fetched on first use, refreshed ~5 minutes before expiry instead of botocore's 15."""

    def __init__(
        self, refresh_using: Callable[[], dict[str, Any]], clock: Callable[[], datetime]
    ) -> None:
        super().__init__(refresh_using=refresh_using, method="assume-role", time_fetcher=clock)
        # The same attributes RefreshableCredentials sets from its advisory/mandatory_timeout
        # arguments, which this deferred subclass does not accept.
        self._advisory_refresh_timeout = REFRESH_BEFORE_EXPIRY_SECONDS
        self._mandatory_refresh_timeout = MANDATORY_REFRESH_SECONDS


class _FixedProvider(CredentialProvider):
    METHOD = "bedrock-revoker-assume-role"

    def __init__(self, credentials: _ShortRefreshCredentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> _ShortRefreshCredentials:
        return self._credentials


def refreshed_by(
    refresh: Callable[[], dict[str, Any]], clock: Callable[[], datetime]
) -> CredentialResolver:
    """A session's credential_provider component whose credentials come from `refresh` (botocore's
    access_key, secret_key, token, expiry_time), called first when a call needs them."""
    return CredentialResolver([_FixedProvider(_ShortRefreshCredentials(refresh, clock))])
