"""Every callback_id, block_id and action_id the app's Block Kit uses.

Handlers register listeners on these and tests look them up here, so renaming one cannot silently
break a listener. They are part of the contract with Slack: a message posted by an older version
still carries the old ids, so change them only with a migration in mind.
"""

from __future__ import annotations

import re

# The request modal
REVOKE_CALLBACK_ID = "revoke_request"
KIND_BLOCK = "kind"
KIND_ACTION = "kind_choice"
KEY_RECEIVED_BLOCK = "key_received"
IDENTIFIER_BLOCK = "identifier"
IDENTIFIER_ACTION = "identifier_input"
# Used instead of IDENTIFIER_ACTION when a pasted key must be wiped from the field: Slack keeps what
# a user typed across views.update as long as block_id and action_id stay the same.
IDENTIFIER_ACTION_CLEARED = "identifier_input_cleared"
KEY_TEXT_BLOCK = "key_text"
KEY_TEXT_ACTION = "key_text_input"
ACTIONS_BLOCK = "actions"
ACTIONS_ACTION = "actions_choice"
# Used when the signer found changes the default actions (a user, not a role, signed the key):
# Slack keeps the ticked boxes of an element whose action_id survives an update.
ACTIONS_ACTION_FOR_USER = "actions_choice_user"
REVOKE_BEFORE_BLOCK = "revoke_before"
REVOKE_BEFORE_ACTION = "revoke_before_picker"
# A long-term request's scope: the one key (or user's key) named, every key of the user, or every
# key of the account; and what narrows a user's or an account's keys.
SCOPE_BLOCK = "scope"
SCOPE_ACTION = "scope_choice"
SCOPE_FILTERS_BLOCK = "scope_filters"
SCOPE_FILTERS_ACTION = "scope_filters_choice"
CREATED_BEFORE_BLOCK = "created_before"
CREATED_BEFORE_ACTION = "created_before_picker"
ACCOUNT_BLOCK = "account"
ACCOUNT_ACTION = "account_choice"
REASON_BLOCK = "reason"
REASON_ACTION = "reason_input"

# The optional reason asked for when someone clicks Reject
REJECT_CALLBACK_ID = "reject_request"
REJECT_REASON_BLOCK = "reject_reason"
REJECT_REASON_ACTION = "reject_reason_input"

# The request message
REQUEST_BUTTONS_BLOCK = "request_buttons"
APPROVE_ACTION = "approve_request"
REJECT_ACTION = "reject_request"
CANCEL_ACTION = "cancel_request"
UNDO_BLOCK = "undo_buttons"  # also holds a bulk request's Retry failures button
RETRY_FAILURES_ACTION = "retry_failures"
# One button per reversible action and action_ids must be unique within a block, so each undo
# button's action_id is UNDO_ACTION_PREFIX + ":" + the action; listeners match UNDO_ACTION_PATTERN.
UNDO_ACTION_PREFIX = "undo_request"
UNDO_ACTION_PATTERN = re.compile(rf"^{UNDO_ACTION_PREFIX}:[a-z_]+$")

# Thread replies: stable ids make the audit export and tests able to find a part of a reply.
PLAN_HEADER_BLOCK = "plan_header"
SUMMARY_BLOCK = "summary"
BLAST_RADIUS_BLOCK = "blast_radius"
