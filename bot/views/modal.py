"""The request modal: building it, rebuilding it on a key-type switch, parsing and checking it.

A leaked key pasted into the modal is decoded here, at once, and from then on only what it decoded
to (a `DecodedKey`: fingerprint, owner, times) travels: in `private_metadata` between views and in
`ModalInput.decoded_key` to the handler. The key itself is never put back into a view.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError
from slack_sdk.models.blocks import (
    Block,
    CheckboxesElement,
    ContextBlock,
    DateTimePickerElement,
    InputBlock,
    MarkdownTextObject,
    Option,
    OptionGroup,
    PlainTextInputElement,
    RadioButtonsElement,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot import keys, validation
from bot.errors import InvalidInput, InvalidKey
from bot.keys import redact_free_text
from bot.policies import MAX_FUTURE_SKEW, earliest_covering_cutoff, format_time
from bot.revocation.bulk import BULK_ACTIONS, ScopeFilters
from bot.revocation.model import (
    ACTION_LABELS,
    LONG_TERM_ACTIONS,
    SHORT_TERM_ACTIONS,
    Action,
    DecodedKey,
    KeyKind,
    Signer,
    SignerKind,
)
from bot.revocation.signer import describe as describe_signer
from bot.views import ids
from bot.views.describe import KIND_LABELS, KIND_SHORT, describe_key
from bot.views.text import OPTION_TEXT_LIMIT, code, plain, truncate_mrkdwn

MODAL_TITLE = "Revoke Bedrock key"
MODAL_SUBMIT = "Request approval"
MODAL_CLOSE = "Cancel"
REASON_MAX_LENGTH = 500
_SELECT_OPTIONS_LIMIT = 100

APPLICABLE_ACTIONS: dict[KeyKind, tuple[Action, ...]] = {
    KeyKind.LONG_TERM: LONG_TERM_ACTIONS,
    KeyKind.SHORT_TERM: SHORT_TERM_ACTIONS,
}
# The least destructive action that stops the key: reversible, so a mistaken request costs little.
DEFAULT_ACTIONS: dict[KeyKind, tuple[Action, ...]] = {
    KeyKind.LONG_TERM: (Action.DEACTIVATE,),
    KeyKind.SHORT_TERM: (Action.DENY_ROLE,),
}

IDENTIFIER_LABELS: dict[KeyKind, str] = {
    KeyKind.LONG_TERM: "Leaked key (ABSK…), credential id, or IAM user name",
    KeyKind.SHORT_TERM: "IAM role that signed the key (name, ARN or assumed-role ARN)",
}
# When CloudTrail shows a user signed the key, the user's deny is what stops it.
USER_SIGNER_DEFAULT_ACTIONS: tuple[Action, ...] = (Action.DENY_USER,)
KEY_TEXT_LABEL = "Leaked short-term key (bedrock-api-key-…): checks expiry and signer"


SCOPE_KEY, SCOPE_USER, SCOPE_ACCOUNT = "key", "user", "account"
SCOPE_LABELS = {
    SCOPE_KEY: "The key named above (or the user's one key)",
    SCOPE_USER: "Every Bedrock API key of the IAM user named above",
    SCOPE_ACCOUNT: "Every long-term Bedrock API key in the account",
}
ACTIVE_ONLY, CONSOLE_USERS_ONLY = "active_only", "console_users_only"
FILTER_LABELS = {
    ACTIVE_ONLY: "Active keys only",
    CONSOLE_USERS_ONLY: "Keys of console-made BedrockAPIKey-* users only",
}


def parse_scope_text(text: str | None) -> tuple[str, str | None] | None:
    """(scope, user name) when the slash command's text names a scope (`user:<name>` or
    `account`); None for anything else (a key, an id, a user name to prefill)."""
    raw = (text or "").strip()
    if raw.lower() == SCOPE_ACCOUNT:
        return SCOPE_ACCOUNT, None
    prefix, sep, name = raw.partition(":")
    if sep and prefix.strip().lower() == SCOPE_USER and not keys.looks_like_key(raw):
        return SCOPE_USER, name.strip() or None
    return None


# Slack's view.state.values: {block_id: {action_id: {"type": ..., <value fields>}}}. Each of our
# input blocks has one element; reading it by block alone survives an action_id change.
StateValues = Mapping[str, Mapping[str, Mapping[str, Any]]]


class ModalMetadata(BaseModel):
    """What a modal carries in `private_metadata` from one view to the next and to submission."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channel_id: str
    kind: KeyKind
    account: str | None = None  # the only configured account, when the modal shows no select
    decoded_key: DecodedKey | None = None
    # Who signed a short-term key, as CloudTrail showed it when the modal was updated.
    signer: Signer | None = None

    def encode(self) -> str:
        # Short keys: private_metadata is capped at 3,000 characters.
        data: dict[str, Any] = {"c": self.channel_id, "k": self.kind.value}
        if self.account is not None:
            data["a"] = self.account
        if self.decoded_key is not None:
            data["d"] = self.decoded_key.model_dump(mode="json", exclude_none=True)
        if self.signer is not None:
            data["s"] = self.signer.model_dump(mode="json", exclude_none=True)
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def decode(cls, raw: str) -> ModalMetadata:
        """Raises InvalidInput: metadata is written by us, so a bad one is a bug or tampering."""
        try:
            data = json.loads(raw)
            return cls(
                channel_id=data["c"],
                kind=KeyKind(data["k"]),
                account=data.get("a"),
                decoded_key=DecodedKey.model_validate(data["d"]) if "d" in data else None,
                signer=Signer.model_validate(data["s"]) if "s" in data else None,
            )
        except (ValueError, KeyError, TypeError, ValidationError):
            raise InvalidInput("The form's hidden data is damaged; open it again.") from None


class ModalInput(BaseModel):
    """A submitted modal, parsed. `problems` holds what parsing found wrong, for `modal_errors`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: KeyKind
    identifier: str | None  # stripped; None when blank or when the field held a key
    # The pasted key, when one was pasted in this submission. Prefer `decoded_key`: it holds all a
    # handler needs and is safe to store; this is here only for a caller that must decode itself.
    key_text: SecretStr | None = None
    key_block: str | None = None  # block the key was pasted in, for placing errors
    decoded_key: DecodedKey | None = None  # from this submission, else from an earlier view
    actions: tuple[Action, ...]
    account: str | None
    reason: str  # stripped, with any key in it replaced by its fingerprint
    channel_id: str
    revoke_before: datetime | None = None
    signer: Signer | None = None  # from the modal's metadata: what CloudTrail showed
    # Long-term: "key" (the key or user's key named), "user" (every key of the user named) or
    # "account" (every key of the account), and what narrows a user's or an account's keys.
    scope: str = SCOPE_KEY
    filters: ScopeFilters = ScopeFilters()
    problems: tuple[tuple[str, str], ...] = ()

    @property
    def scope_user(self) -> str | None:
        """The IAM user whose keys a user scope covers: as typed, or the pasted key's user."""
        if self.identifier:
            return self.identifier
        return self.decoded_key.user_name if self.decoded_key is not None else None


# ---------------------------------------------------------------------------------------------
# building


def guess_kind(text: str | None) -> KeyKind:
    """The key type to open the modal with, from the slash command's text."""
    pasted = keys.find_key(text) if text else None
    if pasted and keys.normalize(pasted).startswith(keys.SHORT_TERM_PREFIX):
        return KeyKind.SHORT_TERM
    return KeyKind.LONG_TERM


def revocation_modal(
    kind: KeyKind,
    *,
    channel_id: str,
    accounts: Sequence[str] = (),
    prefill_identifier: str | None = None,
    prefill_reason: str | None = None,
    selected_actions: Sequence[Action] | None = None,
    selected_account: str | None = None,
    revoke_before: datetime | None = None,
    decoded_key: DecodedKey | None = None,
    identifier_action_id: str = ids.IDENTIFIER_ACTION,
    notice: str | None = None,
    now: datetime | None = None,
    account_ids: Mapping[str, str] | None = None,
    signer: Signer | None = None,
    actions_action_id: str = ids.ACTIONS_ACTION,
    scope: str | None = None,
    filters: ScopeFilters | None = None,
) -> View:
    """The modal for `kind`. A key given as `prefill_identifier` is decoded, never shown.

    `account_ids` maps each of `accounts` to its AWS account id: with nothing chosen yet, the
    account select starts on the one a decoded key names (or the signer's, for a short-term key).
    `signer`: who CloudTrail shows signed the short-term key; its role fills an empty role field
    and its evidence is shown above it.
    """
    pasted = keys.find_key(prefill_identifier) if prefill_identifier else None
    if pasted is not None:
        decoded, problem = _decode(pasted, now)
        decoded_key = decoded or decoded_key
        notice = notice or problem
        prefill_identifier = None
    if signer is not None and (decoded_key is None or decoded_key.kind is not KeyKind.SHORT_TERM):
        signer = None
    named_account = decoded_key.account_id if decoded_key is not None else None
    if signer is not None and signer.account_id:
        named_account = signer.account_id
    if selected_account is None and named_account:
        selected_account = next(
            (a for a in accounts if (account_ids or {}).get(a) == named_account), None
        )
    if (
        kind is KeyKind.SHORT_TERM
        and signer is not None
        and signer.confirmed
        and signer.kind in (SignerKind.ROLE, SignerKind.IDENTITY_CENTER)
        and not prefill_identifier
    ):
        prefill_identifier = signer.arn or signer.name
    if (
        kind is KeyKind.SHORT_TERM
        and selected_actions is None
        and decoded_key is not None
        and (
            decoded_key.signed_by == "user"
            or (signer is not None and signer.kind is SignerKind.USER)
        )
    ):
        selected_actions = USER_SIGNER_DEFAULT_ACTIONS
    metadata = ModalMetadata(
        channel_id=channel_id,
        kind=kind,
        account=accounts[0] if len(accounts) == 1 else None,
        decoded_key=decoded_key,
        signer=signer,
    )
    blocks: list[Block] = [_kind_block(kind)]
    context = _key_context(kind, decoded_key, notice, signer)
    if context is not None:
        blocks.append(context)
    # A decoded key stands in for the field: a long-term key names its credential, and a
    # short-term key's signer is read from CloudTrail (a role typed here is checked against it).
    key_stands_in = decoded_key is not None and decoded_key.kind is kind
    # Every key of the account needs no name.
    optional = key_stands_in or (kind is KeyKind.LONG_TERM and scope == SCOPE_ACCOUNT)
    blocks.append(
        _identifier_block(kind, prefill_identifier, identifier_action_id, optional=optional)
    )
    if kind is KeyKind.SHORT_TERM:
        blocks.append(_key_text_block())
    if kind is KeyKind.LONG_TERM:
        blocks += _scope_blocks(scope or SCOPE_KEY, filters or ScopeFilters())
    blocks.append(_actions_block(kind, selected_actions, actions_action_id))
    if kind is KeyKind.SHORT_TERM:
        blocks.append(_revoke_before_block(revoke_before))
    if len(accounts) > 1:
        blocks.append(_account_block(accounts, selected_account))
    blocks.append(_reason_block(prefill_reason))
    return View(
        type="modal",
        callback_id=ids.REVOKE_CALLBACK_ID,
        title=MODAL_TITLE,
        submit=MODAL_SUBMIT,
        close=MODAL_CLOSE,
        blocks=blocks,
        private_metadata=metadata.encode(),
    )


def switched_modal(
    values: StateValues,
    private_metadata: str,
    *,
    accounts: Sequence[str] = (),
    now: datetime | None = None,
    account_ids: Mapping[str, str] | None = None,
    signer: Signer | None = None,
) -> View:
    """The modal rebuilt for the key type just picked (the `block_actions` of KIND_ACTION), or
    with the signer CloudTrail showed (`signer`).

    What was entered is kept, except a pasted key: it is decoded into the metadata and its field
    emptied, so the key is not sent back to Slack in the new view. A signer found fills an empty
    role field (under a new action id, since Slack keeps an element's typed value otherwise).
    """
    meta = ModalMetadata.decode(private_metadata)
    kind = _kind(values) or meta.kind
    decoded_key = meta.decoded_key
    notice: str | None = None

    identifier = _text(values, ids.IDENTIFIER_BLOCK)
    current_action = _action_id(values, ids.IDENTIFIER_BLOCK) or ids.IDENTIFIER_ACTION
    identifier_action = current_action
    for typed in (identifier, _text(values, ids.KEY_TEXT_BLOCK)):
        pasted = keys.find_key(typed) if typed else None
        if pasted is not None:
            decoded, problem = _decode(pasted, now)
            decoded_key = decoded or decoded_key
            notice = problem or notice
    if identifier and keys.find_key(identifier) is not None:
        identifier = None
        # A new action_id is what makes Slack drop the typed value instead of preserving it.
        identifier_action = (
            ids.IDENTIFIER_ACTION_CLEARED
            if current_action == ids.IDENTIFIER_ACTION
            else ids.IDENTIFIER_ACTION
        )

    signer = signer or (meta.signer if decoded_key == meta.decoded_key else None)
    newly_found = signer is not None and signer is not meta.signer
    if newly_found and not identifier:
        identifier_action = (
            ids.IDENTIFIER_ACTION_CLEARED
            if identifier_action == ids.IDENTIFIER_ACTION
            else ids.IDENTIFIER_ACTION
        )
    chosen = [a for a in _actions(values)[0] if a in APPLICABLE_ACTIONS[kind]]
    actions_action = _action_id(values, ids.ACTIONS_BLOCK) or ids.ACTIONS_ACTION
    if (
        newly_found
        and signer is not None
        and signer.kind is SignerKind.USER
        and tuple(chosen) in ((), DEFAULT_ACTIONS[kind])
    ):
        # The role default does not fit a user's key: offer the user's, under a fresh action id.
        chosen = list(USER_SIGNER_DEFAULT_ACTIONS)
        actions_action = ids.ACTIONS_ACTION_FOR_USER
    return revocation_modal(
        kind,
        channel_id=meta.channel_id,
        accounts=accounts,
        prefill_identifier=identifier,
        prefill_reason=_text(values, ids.REASON_BLOCK),
        selected_actions=chosen or None,
        selected_account=_selected(values, ids.ACCOUNT_BLOCK) or meta.account,
        revoke_before=_datetime(values, ids.REVOKE_BEFORE_BLOCK)[0],
        decoded_key=decoded_key,
        identifier_action_id=identifier_action,
        notice=notice,
        now=now,
        account_ids=account_ids,
        signer=signer,
        actions_action_id=actions_action,
        scope=_selected(values, ids.SCOPE_BLOCK),
        filters=_filters(values)[0],
    )


def decoded_key_of(private_metadata: str) -> DecodedKey | None:
    """The key a modal carries (decoded), for a handler deciding whether to look up its signer."""
    return ModalMetadata.decode(private_metadata).decoded_key


def _kind_block(kind: KeyKind) -> InputBlock:
    options = [Option(value=k.value, label=KIND_LABELS[k]) for k in KeyKind]
    return InputBlock(
        block_id=ids.KIND_BLOCK,
        label="Key type",
        element=RadioButtonsElement(
            action_id=ids.KIND_ACTION,
            options=options,
            initial_option=options[list(KeyKind).index(kind)],
        ),
        # Switching type sends a block_actions event so the app can swap in the other fields.
        dispatch_action=True,
    )


def _key_context(
    kind: KeyKind, key: DecodedKey | None, notice: str | None, signer: Signer | None = None
) -> ContextBlock | None:
    lines: list[str] = []
    if key is not None:
        if key.kind is kind:
            lines.append(
                f":key: Key received: {describe_key(key)}. The key itself is not kept; "
                "leave the field below empty to act on it."
            )
        else:
            lines.append(
                f":key: The {KIND_SHORT[key.kind]} key you pasted (fingerprint "
                f"{code(key.fingerprint)}) does not apply to a {KIND_SHORT[kind]} request; "
                f"switch back to act on it."
            )
    if signer is not None and key is not None and key.kind is kind:
        if signer.confirmed:
            lines.append(f":mag: {describe_signer(signer)}")
            if signer.kind is SignerKind.USER:
                lines.append(
                    "It is stopped on that user: deny API-key use to the user"
                    + (
                        ", or deactivate the access key that signed it."
                        if key.signed_by == "user"
                        else ", or revoke the user's sessions."
                    )
                )
        else:
            lines.append(
                f":warning: {describe_signer(signer)} Enter the role; the plan will say it "
                "was not confirmed."
            )
    if notice:
        lines.append(f":warning: {notice}")
    if not lines:
        return None
    return ContextBlock(
        block_id=ids.KEY_RECEIVED_BLOCK,
        elements=[MarkdownTextObject(text=truncate_mrkdwn("\n".join(lines), 2000))],
    )


def _identifier_block(
    kind: KeyKind, value: str | None, action_id: str, *, optional: bool
) -> InputBlock:
    hint = {
        KeyKind.LONG_TERM: "Paste the leaked key if you have it: it is decoded here and never "
        "stored or shown. Otherwise its credential id (ACCA…) or its IAM user.",
        KeyKind.SHORT_TERM: "Paste the key below and the signer is read from CloudTrail; a role "
        "entered here is checked against it. Stopping the key means acting on its signer.",
    }[kind]
    return InputBlock(
        block_id=ids.IDENTIFIER_BLOCK,
        label=IDENTIFIER_LABELS[kind],
        hint=hint,
        # A long-term key decoded earlier names its user and credential, so it can stand in for
        # this field; a short-term key never names its role, so the role is always needed.
        optional=optional,
        element=PlainTextInputElement(
            action_id=action_id,
            initial_value=value or None,
            placeholder={
                KeyKind.LONG_TERM: "ABSK… / ACCA… / BedrockAPIKey-ab12",
                KeyKind.SHORT_TERM: "my-app-role, arn:aws:iam::…:role/… or …:assumed-role/…/…",
            }[kind],
        ),
    )


def _scope_blocks(scope: str, filters: ScopeFilters) -> list[Block]:
    options = [
        Option(value=v, label=plain(label, OPTION_TEXT_LIMIT)) for v, label in SCOPE_LABELS.items()
    ]
    narrowing = [
        Option(value=v, label=plain(label, OPTION_TEXT_LIMIT)) for v, label in FILTER_LABELS.items()
    ]
    ticked = [
        o
        for o in narrowing
        if (o.value == ACTIVE_ONLY and filters.active_only)
        or (o.value == CONSOLE_USERS_ONLY and filters.console_users_only)
    ]
    before = filters.created_before
    return [
        InputBlock(
            block_id=ids.SCOPE_BLOCK,
            label="Scope",
            hint="A user's or an account's keys are listed when you submit: exactly those are "
            "shown to the approvers and changed, keys made later are not.",
            element=StaticSelectElement(
                action_id=ids.SCOPE_ACTION,
                options=options,
                initial_option=options[list(SCOPE_LABELS).index(scope)],
            ),
            # The account's keys need no user: the modal is redrawn with the field optional.
            dispatch_action=True,
        ),
        InputBlock(
            block_id=ids.SCOPE_FILTERS_BLOCK,
            label="Narrow a user's or an account's keys",
            optional=True,
            element=CheckboxesElement(
                action_id=ids.SCOPE_FILTERS_ACTION,
                options=narrowing,
                initial_options=ticked or None,
            ),
        ),
        InputBlock(
            block_id=ids.CREATED_BEFORE_BLOCK,
            label="Only keys created before",
            optional=True,
            element=DateTimePickerElement(
                action_id=ids.CREATED_BEFORE_ACTION,
                initial_date_time=int(before.timestamp()) if before is not None else None,
            ),
        ),
    ]


def _key_text_block() -> InputBlock:
    return InputBlock(
        block_id=ids.KEY_TEXT_BLOCK,
        label=KEY_TEXT_LABEL,
        hint="Decoded here and never stored or shown; only its fingerprint is kept.",
        optional=True,
        element=PlainTextInputElement(action_id=ids.KEY_TEXT_ACTION, multiline=True),
    )


def _actions_block(
    kind: KeyKind, selected: Sequence[Action] | None, action_id: str = ids.ACTIONS_ACTION
) -> InputBlock:
    applicable = APPLICABLE_ACTIONS[kind]
    options = [
        Option(value=a.value, label=plain(ACTION_LABELS[a], OPTION_TEXT_LIMIT)) for a in applicable
    ]
    wanted = selected if selected else DEFAULT_ACTIONS[kind]
    initial = [o for a, o in zip(applicable, options, strict=True) if a in wanted]
    return InputBlock(
        block_id=ids.ACTIONS_BLOCK,
        label="Actions",
        element=CheckboxesElement(
            action_id=action_id, options=options, initial_options=initial or None
        ),
    )


def _revoke_before_block(value: datetime | None) -> InputBlock:
    return InputBlock(
        block_id=ids.REVOKE_BEFORE_BLOCK,
        label="Revoke sessions issued before",
        hint="Only for 'Revoke the signer's sessions'. Empty means now. Every session issued "
        "before this moment is denied everything, legitimate ones too; to stop the key it must "
        "be later than the key's session was issued.",
        optional=True,
        element=DateTimePickerElement(
            action_id=ids.REVOKE_BEFORE_ACTION,
            initial_date_time=int(value.timestamp()) if value is not None else None,
        ),
    )


def _account_block(accounts: Sequence[str], selected: str | None) -> InputBlock:
    options = [Option(value=a, label=plain(a, OPTION_TEXT_LIMIT)) for a in accounts]
    initial = next((o for a, o in zip(accounts, options, strict=True) if a == selected), None)
    if len(options) <= _SELECT_OPTIONS_LIMIT:
        element = StaticSelectElement(
            action_id=ids.ACCOUNT_ACTION, options=options, initial_option=initial
        )
    else:
        # A static select holds 100 options; beyond that, groups of 100 (hiding accounts would
        # let a responder revoke in the wrong one).
        groups = [
            OptionGroup(
                label=f"Accounts {i + 1}-{min(i + _SELECT_OPTIONS_LIMIT, len(options))}",
                options=options[i : i + _SELECT_OPTIONS_LIMIT],
            )
            for i in range(0, len(options), _SELECT_OPTIONS_LIMIT)
        ]
        element = StaticSelectElement(
            action_id=ids.ACCOUNT_ACTION, option_groups=groups, initial_option=initial
        )
    return InputBlock(block_id=ids.ACCOUNT_BLOCK, label="AWS account", element=element)


def _reason_block(value: str | None) -> InputBlock:
    return InputBlock(
        block_id=ids.REASON_BLOCK,
        label="Reason or incident reference",
        hint="Shown to the approvers and kept in the audit trail.",
        element=PlainTextInputElement(
            action_id=ids.REASON_ACTION,
            multiline=True,
            max_length=REASON_MAX_LENGTH,
            initial_value=redact_free_text(value)[:REASON_MAX_LENGTH] if value else None,
            placeholder="INC-1234: key found in a public repository",
        ),
    )


# ---------------------------------------------------------------------------------------------
# parsing


def parse_submission(
    values: StateValues,
    private_metadata: str,
    *,
    now: datetime | None = None,
) -> ModalInput:
    """Read `view.state.values` of a view_submission. Never raises for what a user typed: those
    problems go to `problems` for `modal_errors`. Raises InvalidInput for damaged metadata."""
    meta = ModalMetadata.decode(private_metadata)
    kind = _kind(values) or meta.kind
    problems: list[tuple[str, str]] = []

    identifier = _text(values, ids.IDENTIFIER_BLOCK)
    key_field = _text(values, ids.KEY_TEXT_BLOCK) if kind is KeyKind.SHORT_TERM else None
    pasted: list[tuple[str, str]] = []
    if identifier and keys.looks_like_key(identifier):
        pasted.append((ids.IDENTIFIER_BLOCK, identifier))
        identifier = None
    if key_field:
        pasted.append((ids.KEY_TEXT_BLOCK, key_field))

    key_text: str | None = None
    key_block: str | None = None
    decoded_key = meta.decoded_key if meta.decoded_key and meta.decoded_key.kind is kind else None
    if len(pasted) > 1:
        problems.append((ids.KEY_TEXT_BLOCK, "Paste the key in one field only."))
    if pasted:
        key_block, key_text = pasted[0]
        decoded, problem = _decode(key_text, now)
        if problem:
            problems.append((key_block, problem))
        elif decoded is not None and decoded.kind is not kind:
            problems.append((key_block, _wrong_kind(decoded.kind, kind)))
        else:
            decoded_key = decoded

    actions, unknown = _actions(values)
    if unknown:
        problems.append((ids.ACTIONS_BLOCK, "Choose from the listed actions."))
    revoke_before, bad_time = _datetime(values, ids.REVOKE_BEFORE_BLOCK)
    if bad_time:
        problems.append((ids.REVOKE_BEFORE_BLOCK, "That is not a date and time."))
    scope = _selected(values, ids.SCOPE_BLOCK) or SCOPE_KEY
    if scope not in SCOPE_LABELS or kind is not KeyKind.LONG_TERM:
        if scope not in SCOPE_LABELS:
            problems.append((ids.SCOPE_BLOCK, "Choose one of the listed scopes."))
        scope = SCOPE_KEY
    filters, filter_problem = _filters(values)
    if filter_problem:
        problems.append(filter_problem)

    return ModalInput(
        kind=kind,
        identifier=identifier,
        key_text=SecretStr(key_text) if key_text else None,
        key_block=key_block,
        decoded_key=decoded_key,
        actions=actions,
        account=_selected(values, ids.ACCOUNT_BLOCK) or meta.account,
        reason=redact_free_text(_text(values, ids.REASON_BLOCK) or ""),
        channel_id=meta.channel_id,
        revoke_before=revoke_before if kind is KeyKind.SHORT_TERM else None,
        signer=meta.signer if decoded_key is not None and decoded_key == meta.decoded_key else None,
        scope=scope,
        filters=filters if kind is KeyKind.LONG_TERM else ScopeFilters(),
        problems=tuple(problems),
    )


def modal_errors(
    inp: ModalInput,
    *,
    accounts: Sequence[str] = (),
    now: datetime | None = None,
) -> dict[str, str]:
    """Field errors to return with `ack(response_action="errors", errors=...)`; empty when valid.

    One message per block (Slack shows one), the first problem found winning.
    """
    errors: dict[str, str] = {}

    def add(block: str, message: str) -> None:
        errors.setdefault(block, message)

    for block, message in inp.problems:
        add(block, message)

    if inp.scope == SCOPE_USER:
        if inp.scope_user is None:
            add(ids.IDENTIFIER_BLOCK, "Enter the IAM user whose keys to act on (or paste a key).")
        elif not validation.USER_NAME.fullmatch(inp.scope_user):
            add(
                ids.IDENTIFIER_BLOCK,
                "Enter an IAM user name (1-64 of letters, digits and +=,.@_-) for this scope.",
            )
    if inp.scope != SCOPE_KEY:
        offered = [a for a in inp.actions if a not in BULK_ACTIONS]
        if offered:
            add(
                ids.ACTIONS_BLOCK,
                f"{ACTION_LABELS[offered[0]]} is not offered for a scope of keys: choose "
                "deactivate, deny the user or delete.",
            )
    elif inp.filters != ScopeFilters():
        add(
            ids.SCOPE_FILTERS_BLOCK,
            "Narrowing applies to a user's or an account's keys: choose that scope, or clear it.",
        )

    if inp.scope != SCOPE_KEY:
        # The scope names what to act on: a user checked above, or the whole account.
        if inp.scope == SCOPE_ACCOUNT and inp.identifier:
            add(ids.IDENTIFIER_BLOCK, "Leave this empty for every key in the account.")
    elif inp.identifier:
        problem = _identifier_problem(inp.kind, inp.identifier) or _signer_problem(inp)
        if problem:
            add(ids.IDENTIFIER_BLOCK, problem)
    elif inp.decoded_key is None and not inp.key_text:
        add(ids.IDENTIFIER_BLOCK, _missing_identifier(inp.kind))
    elif inp.kind is KeyKind.SHORT_TERM and inp.signer is not None and not inp.signer.confirmed:
        add(
            ids.IDENTIFIER_BLOCK,
            f"CloudTrail could not confirm who signed this key ({inp.signer.problem}): enter "
            "the role.",
        )

    if not inp.actions:
        add(ids.ACTIONS_BLOCK, "Choose at least one action.")
    wrong = [a for a in inp.actions if a not in APPLICABLE_ACTIONS[inp.kind]]
    if wrong:
        add(
            ids.ACTIONS_BLOCK,
            f"{ACTION_LABELS[wrong[0]]} does not apply to a {KIND_SHORT[inp.kind]} key.",
        )

    if inp.revoke_before is not None and Action.REVOKE_SESSIONS in inp.actions:
        current = now or datetime.now(UTC)
        cover = _covering_cutoff(inp)
        if inp.revoke_before > current + MAX_FUTURE_SKEW:
            add(
                ids.REVOKE_BEFORE_BLOCK,
                "Pick a moment that has passed: a future time would also deny every session "
                "issued after the incident.",
            )
        elif cover is not None and inp.revoke_before < cover:
            add(
                ids.REVOKE_BEFORE_BLOCK,
                f"Too early to stop this key: {_covering_reason(inp)}, and only sessions "
                f"issued before the cutoff are denied. Pick {format_time(cover)} or later, or "
                "leave it empty (now).",
            )

    if accounts and len(accounts) > 1 and inp.account not in accounts:
        add(ids.ACCOUNT_BLOCK, "Choose one of the configured accounts.")

    if not inp.reason.strip():
        add(ids.REASON_BLOCK, "Give a reason or an incident reference.")
    elif len(inp.reason) > REASON_MAX_LENGTH:
        add(ids.REASON_BLOCK, f"Keep the reason under {REASON_MAX_LENGTH} characters.")
    return errors


def _identifier_problem(kind: KeyKind, identifier: str) -> str | None:
    if kind is KeyKind.LONG_TERM:
        if validation.CREDENTIAL_ID.fullmatch(identifier) or validation.USER_NAME.fullmatch(
            identifier
        ):
            return None
        if validation.ROLE_ARN.fullmatch(identifier):
            return "That is a role: choose Short-term above to stop keys a role's sessions made."
        return (
            "Enter a long-term key (ABSK…), a credential id (ACCA…, 20-128 letters and digits) "
            "or an IAM user name (1-64 of letters, digits and +=,.@_-)."
        )
    if role_name_in(identifier) is not None:
        return None
    return (
        "Enter an IAM role name (1-64 of letters, digits and +=,.@_-), a role ARN "
        "(arn:aws:iam::123456789012:role/name) or an assumed-role ARN "
        "(arn:aws:sts::123456789012:assumed-role/name/session)."
    )


def _covering_cutoff(inp: ModalInput) -> datetime | None:
    key = inp.decoded_key
    if inp.kind is not KeyKind.SHORT_TERM or key is None or key.issued_at is None:
        return None
    return earliest_covering_cutoff(key.issued_at, _session_issued_at(inp))


def _session_issued_at(inp: ModalInput) -> datetime | None:
    key, found = inp.decoded_key, inp.signer
    issued = found.session_issued_at if found is not None and found.confirmed else None
    if issued is None or key is None or key.issued_at is None or issued > key.issued_at:
        return None
    return issued


def _covering_reason(inp: ModalInput) -> str:
    issued = _session_issued_at(inp)
    if issued is not None:
        return f"its session was issued at {format_time(issued)} (CloudTrail)"
    signed = inp.decoded_key.issued_at if inp.decoded_key else None
    return f"it was signed at {format_time(signed) if signed else '?'}"


def _signer_problem(inp: ModalInput) -> str | None:
    """A role typed against what CloudTrail showed signed the pasted key (no AWS call here; the
    resolution checks again with a fresh lookup)."""
    found = inp.signer
    if inp.kind is not KeyKind.SHORT_TERM or found is None or not found.confirmed:
        return None
    given = role_name_in(inp.identifier or "")
    if found.kind is SignerKind.USER:
        return (
            f"CloudTrail shows this key was signed by IAM user {found.name}, not a role: leave "
            "this empty and choose the user's actions."
        )
    if (
        found.kind in (SignerKind.ROLE, SignerKind.IDENTITY_CENTER)
        and found.name
        and (given is None or given.lower() != found.name.lower())
    ):
        return (
            f"CloudTrail shows this key was signed by a session of role {found.name}, not "
            f"{given or inp.identifier}: leave {found.name} (or empty the field)."
        )
    return None


def role_name_in(text: str) -> str | None:
    """The role a role name, role ARN or assumed-role ARN names."""
    text = text.strip()
    match = validation.ROLE_ARN.fullmatch(text) or validation.ASSUMED_ROLE_ARN.fullmatch(text)
    if match:
        return match["name"]
    return text if validation.ROLE_NAME.fullmatch(text) else None


def _missing_identifier(kind: KeyKind) -> str:
    if kind is KeyKind.LONG_TERM:
        return "Enter the leaked key, its credential id or its IAM user."
    return (
        "Paste the leaked key below (its signer is read from CloudTrail), or enter the role "
        "whose session signed it."
    )


def _wrong_kind(got: KeyKind, chosen: KeyKind) -> str:
    return (
        f"That is a {KIND_SHORT[got]} key, but {KIND_SHORT[chosen]} is chosen above: "
        f"switch the key type to {KIND_SHORT[got]}."
    )


def _decode(text: str, now: datetime | None) -> tuple[DecodedKey | None, str | None]:
    """Decode a pasted key; on failure a message that names the fingerprint, never the input."""
    try:
        return keys.decode(text, now=now), None
    except InvalidKey as exc:
        return None, f"The key pasted (fingerprint {keys.fingerprint(text)}) is {exc.message}."


def _element(values: StateValues, block_id: str) -> Mapping[str, Any] | None:
    block = values.get(block_id)
    if not block:
        return None
    return next(iter(block.values()), None)


def _action_id(values: StateValues, block_id: str) -> str | None:
    block = values.get(block_id)
    return next(iter(block), None) if block else None


def _text(values: StateValues, block_id: str) -> str | None:
    element = _element(values, block_id)
    value = element.get("value") if element else None
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _selected(values: StateValues, block_id: str) -> str | None:
    element = _element(values, block_id)
    option = element.get("selected_option") if element else None
    value = option.get("value") if isinstance(option, Mapping) else None
    return value if isinstance(value, str) else None


def _selected_options(values: StateValues, block_id: str) -> list[Any]:
    """A checkbox group's ticked options; none when the payload holds anything but a list."""
    element = _element(values, block_id)
    options = element.get("selected_options") if element else None
    return options if isinstance(options, list) else []


def _kind(values: StateValues) -> KeyKind | None:
    value = _selected(values, ids.KIND_BLOCK)
    try:
        return KeyKind(value) if value else None
    except ValueError:
        return None


def _actions(values: StateValues) -> tuple[tuple[Action, ...], bool]:
    """The chosen actions in a stable order, and whether an unknown value was seen."""
    chosen: list[Action] = []
    unknown = False
    for option in _selected_options(values, ids.ACTIONS_BLOCK):
        value = option.get("value") if isinstance(option, Mapping) else None
        try:
            action = Action(str(value))
        except ValueError:
            unknown = True
            continue
        if action not in chosen:
            chosen.append(action)
    return tuple(chosen), unknown


def _filters(values: StateValues) -> tuple[ScopeFilters, tuple[str, str] | None]:
    options = _selected_options(values, ids.SCOPE_FILTERS_BLOCK)
    ticked = {o.get("value") for o in options if isinstance(o, Mapping)}
    before, bad = _datetime(values, ids.CREATED_BEFORE_BLOCK)
    filters = ScopeFilters(
        created_before=before,
        active_only=ACTIVE_ONLY in ticked,
        console_users_only=CONSOLE_USERS_ONLY in ticked,
    )
    if bad:
        return filters, (ids.CREATED_BEFORE_BLOCK, "That is not a date and time.")
    if ticked - set(FILTER_LABELS):
        return filters, (ids.SCOPE_FILTERS_BLOCK, "Choose from the listed options.")
    return filters, None


def _datetime(values: StateValues, block_id: str) -> tuple[datetime | None, bool]:
    element = _element(values, block_id)
    raw = element.get("selected_date_time") if element else None
    if raw is None:
        return None, False
    try:
        return datetime.fromtimestamp(int(raw), tz=UTC), False
    except (TypeError, ValueError, OverflowError, OSError):
        return None, True
