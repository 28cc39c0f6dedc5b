"""A leaked key typed into free text, wrapped or URL-encoded, through the running app: the channel,
the request row and the audit events get its fingerprint and a note, never the key."""

from __future__ import annotations

import json

from conftest import boto_session, create_long_term_key
from slack_flow import newest_request, open_modal, submit
from test_actions import reject_via_modal, stored
from test_redaction import leaked, percent_encode, wrap

from bot import keys
from bot.sandbox.harness import APPROVER, CHANNEL, Sandbox


def _everything_posted(sb: Sandbox) -> str:
    return "\n".join(
        json.dumps(c.params, default=str)
        for c in sb.api.calls()
        if c.method.startswith(("chat.", "views."))
    )


async def test_a_wrapped_key_in_the_reason_and_an_encoded_one_in_a_note_go_nowhere(
    sb: Sandbox,
) -> None:
    key = create_long_term_key(boto_session().client("iam"), "leaky").key
    # As a terminal wraps it (reason), and as a URL carries it, wrapped again by the chat client
    # (reject note).
    reason = f"INC-77: found\n{wrap(key, 40)}\nin a public gist"
    note = f"dup of INC-76, see https://gist.example/?k={wrap(percent_encode(key), 33, ' ')}"

    before = len(sb.api.messages(CHANNEL))
    view = await open_modal(sb, text="leaky")
    response = await submit(sb, view, actions=("deactivate",), reason=reason)
    assert response.status == 200 and not response.text, response.text
    message = await newest_request(sb, before)
    await reject_via_modal(sb, APPROVER, message, note)
    await sb.api.wait_for(
        lambda: any(m.text.startswith("Rejected by") for m in sb.api.thread(CHANNEL, message.ts)),
        what="rejection in the thread",
    )

    req = await stored(sb, message)
    events = await sb.services.requests.history(req.id)
    audit = json.dumps([e.model_dump(mode="json") for e in events])
    posted = _everything_posted(sb)
    fingerprint = f"[Bedrock API key {keys.fingerprint(key)}]"
    # What readers see: the reason and the note name the key by fingerprint and say it was cut.
    assert req.reason == f"INC-77: found\n{fingerprint}\nin a public gist {keys.KEY_REMOVED_NOTE}"
    assert req.decision_note is not None and req.decision_note.endswith(keys.KEY_REMOVED_NOTE)
    assert fingerprint in req.decision_note
    assert keys.KEY_REMOVED_NOTE in posted and keys.KEY_REMOVED_NOTE in audit
    # None of the secret, however a reader would undo the wrapping or the encoding.
    assert leaked(posted, key) == []
    assert leaked(audit, key) == []
    assert leaked(req.model_dump_json(), key) == []
