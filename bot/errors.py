"""Domain errors. Their messages are shown to people: plain words, never an echo of a secret."""

from __future__ import annotations


class RevokerError(Exception):
    """Base of every error this tool raises on purpose.

    `field` names the input at fault (e.g. "identifier", "account"), so a modal can show the
    message beside it.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidKey(RevokerError):
    """A pasted string is not a Bedrock API key we can decode; the message never echoes it."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="identifier")


class InvalidInput(RevokerError):
    """An input breaks IAM's own patterns or our rules; no AWS call was made."""


class NotFound(RevokerError):
    """The credential, user or role does not exist (IAM said NoSuchEntity)."""


class Refused(RevokerError):
    """A guard refused a plan: IAM cannot do it, or it should not. `suggestion` says what to do."""

    def __init__(self, message: str, *, suggestion: str | None = None, field: str | None = None):
        super().__init__(message if not suggestion else f"{message} {suggestion}", field=field)
        self.suggestion = suggestion


class AwsError(RevokerError):
    """AWS answered with an error while resolving a target; `code` is IAM's error code."""

    def __init__(self, message: str, *, code: str, request_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.request_id = request_id
