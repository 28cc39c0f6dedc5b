"""The Slack stand-in's workspace as a person would read it: channels, ephemerals and modals as
plain text, Block Kit and mrkdwn resolved the way the Slack client displays them.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.sandbox.slack_workspace import Message, SlackWorkspace

JsonDict = dict[str, Any]


class SlackRenderer:
    """Text renderings of one workspace (`SlackWorkspace.render_*` delegate here)."""

    def __init__(self, workspace: SlackWorkspace) -> None:
        self._ws = workspace

    def render_channel(self, channel: str) -> str:
        """The channel as a person reads it: messages, blocks as text, threads indented."""
        info = self._ws.channel(channel)
        title = f"#{info.name} ({channel})" if info else f"#{channel}"
        lines = [title, "=" * max(len(title), 60)]
        for msg in self._ws.messages(channel):
            lines.extend(self._render_message(msg, ""))
            replies = self._ws.thread(channel, msg.ts)
            if replies:
                lines.append(f"  | {len(replies)} {'reply' if len(replies) == 1 else 'replies'}")
                for reply in replies:
                    lines.extend(self._render_message(reply, "  | "))
                    lines.append("  |")
                lines.pop()
            lines.append("")
        return "\n".join(lines).rstrip() + "\n"

    def render_ephemerals(self, user: str, channel: str | None = None) -> str:
        """What `user` alone saw ("Only visible to you")."""
        lines: list[str] = []
        for e in self._ws.ephemerals(channel=channel, user=user):
            where = f"#{self._channel_name(e.channel)}" + (" (in thread)" if e.thread_ts else "")
            lines.append(
                f"[{_clock(e.ts)}] {self._ws.bot_name} (bot), only visible to you, in {where}"
            )
            body = self.render_blocks(e.blocks) if e.blocks else self.render_mrkdwn(e.text)
            lines.extend("    " + line for line in body.splitlines() or [""])
            lines.append("")
        return "\n".join(lines).rstrip() + "\n" if lines else ""

    def render_view(self, view_id: str) -> str:
        """A modal as the user sees it, including what has been entered and any field errors."""
        view = self._ws.view(view_id)
        title = _plain(view.payload.get("title"))
        lines = [
            f"+-- {title} " + "-" * max(0, 56 - len(title)) + ("  (closed)" if view.closed else "")
        ]
        body = self.render_blocks(view.blocks, state=view.state, errors=view.errors)
        lines.extend("| " + line for line in body.splitlines())
        buttons = []
        if view.payload.get("close") or view.payload.get("submit"):
            buttons.append(f"[{_plain(view.payload.get('close')) or 'Cancel'}]")
        if view.payload.get("submit"):
            buttons.append(f"[{_plain(view.payload.get('submit'))}]")
        lines.append("+-- " + " ".join(buttons))
        return "\n".join(lines) + "\n"

    def _render_message(self, msg: Message, prefix: str) -> list[str]:
        author = self._ws.user(msg.user)
        who = author.display if author else msg.user
        if msg.bot_id:
            who = f"{self._ws.bot_name} (bot)"
        head = f"{prefix}[{_clock(msg.ts)}] {who}"
        if msg.edited_ts and not msg.deleted:
            head += "  (edited)"
        if msg.deleted:
            return [head, f"{prefix}    This message was deleted."]
        body = self.render_blocks(msg.blocks) if msg.blocks else self.render_mrkdwn(msg.text)
        for att in msg.attachments:
            body += "\n" + "\n".join(
                ">> " + line for line in self._render_attachment(att).splitlines()
            )
        return [head] + [f"{prefix}    {line}".rstrip() for line in body.splitlines()]

    def _render_attachment(self, att: JsonDict) -> str:
        parts = [
            self.render_mrkdwn(str(att[k])) for k in ("pretext", "title", "text") if att.get(k)
        ]
        for f in att.get("fields") or []:
            parts.append(f"{f.get('title', '')}: {self.render_mrkdwn(str(f.get('value', '')))}")
        if att.get("blocks"):
            parts.append(self.render_blocks(att["blocks"]))
        if not parts and att.get("fallback"):
            parts.append(str(att["fallback"]))
        return "\n".join(parts)

    def render_blocks(
        self,
        blocks: list[JsonDict],
        *,
        state: dict[str, dict[str, JsonDict]] | None = None,
        errors: dict[str, str] | None = None,
    ) -> str:
        out: list[str] = []
        for block in blocks:
            out.extend(self._render_block(block, state or {}, errors or {}))
        return "\n".join(out)

    def _render_block(
        self, block: JsonDict, state: dict[str, dict[str, JsonDict]], errors: dict[str, str]
    ) -> list[str]:
        kind = block.get("type")
        lines: list[str] = []
        if kind == "section":
            if block.get("text"):
                lines.extend(self._text(block["text"]).splitlines())
            for f in block.get("fields") or []:
                lines.append(" ".join(self._text(f).split("\n")))
            accessory = block.get("accessory")
            if isinstance(accessory, dict):
                lines.append(self._element(accessory, state.get(str(block.get("block_id")), {})))
        elif kind == "header":
            lines.append(f"== {self._text(block.get('text'))} ==")
        elif kind == "divider":
            lines.append("-" * 40)
        elif kind == "context":
            parts = []
            for el in block.get("elements") or []:
                if el.get("type") == "image":
                    parts.append(f"[{el.get('alt_text', 'image')}]")
                else:
                    parts.append(self._text(el))
            lines.append("  ".join(parts))
        elif kind == "actions":
            values = state.get(str(block.get("block_id")), {})
            lines.append(" ".join(self._element(el, values) for el in block.get("elements") or []))
        elif kind == "image":
            lines.append(f"[image: {block.get('alt_text', '')}]")
        elif kind == "rich_text":
            lines.extend(self._rich_text(block.get("elements") or []))
        elif kind == "markdown":
            lines.extend(str(block.get("text", "")).splitlines())
        elif kind == "input":
            block_id = str(block.get("block_id"))
            label = self._text(block.get("label"))
            optional = " (optional)" if block.get("optional") else ""
            element = block.get("element") or {}
            lines.append(f"{label}{optional}")
            lines.append("  " + self._element(element, state.get(block_id, {})))
            if block.get("hint"):
                lines.append("  " + self._text(block["hint"]))
            if block_id in errors:
                lines.append(f"  ! {errors[block_id]}")
        elif kind == "file":
            lines.append("[file]")
        else:
            lines.append(f"[{kind} block]")
        return lines

    def _element(self, el: JsonDict, values: dict[str, JsonDict]) -> str:
        kind = el.get("type")
        current = values.get(str(el.get("action_id")), {})
        if kind == "button":
            label = _plain(el.get("text"))
            return f"[{label} -> {el['url']}]" if el.get("url") else f"[{label}]"
        if kind in ("static_select", "external_select", "radio_buttons"):
            chosen = current.get("selected_option") or el.get("initial_option")
            if kind == "radio_buttons":
                return " ".join(
                    ("(*) " if chosen and o.get("value") == chosen.get("value") else "( ) ")
                    + _plain(o.get("text"))
                    for o in el.get("options") or []
                )
            shown = (
                _plain(chosen.get("text")) if chosen else _plain(el.get("placeholder")) or "Select"
            )
            return f"[{shown} v]"
        if kind == "checkboxes":
            chosen_values = {
                o.get("value")
                for o in (current.get("selected_options") or el.get("initial_options") or [])
            }
            return " ".join(
                ("[x] " if o.get("value") in chosen_values else "[ ] ") + _plain(o.get("text"))
                for o in el.get("options") or []
            )
        if kind in ("plain_text_input", "number_input", "email_text_input", "url_text_input"):
            value = current.get("value") if current else el.get("initial_value")
            if value:
                return f"[{value}]"
            placeholder = _plain(el.get("placeholder"))
            return f"[({placeholder})]" if placeholder else "[ ]"
        if kind == "overflow":
            return "[...]"
        if kind in ("datepicker", "timepicker"):
            return f"[{current.get('selected_date') or el.get('initial_date') or kind}]"
        if kind in ("users_select", "conversations_select", "channels_select"):
            return f"[{_plain(el.get('placeholder')) or kind} v]"
        if kind == "image":
            return f"[{el.get('alt_text', 'image')}]"
        return f"[{kind}]"

    def _text(self, obj: object) -> str:
        if not isinstance(obj, dict):
            return str(obj or "")
        text = str(obj.get("text", ""))
        return self.render_mrkdwn(text) if obj.get("type") == "mrkdwn" else text

    def _rich_text(self, elements: list[JsonDict], depth: int = 0) -> list[str]:
        lines: list[str] = []
        for el in elements:
            kind = el.get("type")
            if kind == "rich_text_section":
                lines.extend(self._inline(el.get("elements") or []).split("\n"))
            elif kind == "rich_text_preformatted":
                lines.append("```")
                lines.extend(self._inline(el.get("elements") or []).split("\n"))
                lines.append("```")
            elif kind == "rich_text_quote":
                lines.extend("> " + ln for ln in self._inline(el.get("elements") or []).split("\n"))
            elif kind == "rich_text_list":
                indent = "  " * int(el.get("indent", depth))
                ordered = el.get("style") == "ordered"
                for n, item in enumerate(el.get("elements") or [], start=1):
                    marker = f"{n}." if ordered else "-"
                    text = self._inline(item.get("elements") or [])
                    lines.append(f"{indent}{marker} {text}")
        return lines

    def _inline(self, elements: list[JsonDict]) -> str:
        parts: list[str] = []
        for el in elements:
            kind = el.get("type")
            if kind == "text":
                text = str(el.get("text", ""))
                if (el.get("style") or {}).get("code"):
                    text = f"`{text}`"
                parts.append(text)
            elif kind == "link":
                parts.append(str(el.get("text") or el.get("url", "")))
            elif kind == "user":
                parts.append("@" + self._user_name(str(el.get("user_id"))))
            elif kind == "usergroup":
                parts.append("@" + self._usergroup_name(str(el.get("usergroup_id"))))
            elif kind == "channel":
                parts.append("#" + self._channel_name(str(el.get("channel_id"))))
            elif kind == "emoji":
                parts.append(f":{el.get('name')}:")
            elif kind == "broadcast":
                parts.append(f"@{el.get('range')}")
            elif kind == "date":
                parts.append(str(el.get("fallback", el.get("timestamp", ""))))
            else:
                parts.append(str(el.get("text", "")))
        return "".join(parts)

    def render_mrkdwn(self, text: str) -> str:
        """Resolve Slack's `<...>` markup the way the client displays it, then unescape."""

        def sub(m: re.Match[str]) -> str:
            inner = m.group(1)
            target, _, label = inner.partition("|")
            if target.startswith("@"):
                return "@" + (label or self._user_name(target[1:]))
            if target.startswith("#"):
                return "#" + (label or self._channel_name(target[1:]))
            if target.startswith("!subteam^"):
                return "@" + (label.lstrip("@") or self._usergroup_name(target[len("!subteam^") :]))
            if target.startswith("!date^"):
                return label or target
            if target.startswith("!"):
                return "@" + target[1:]
            return f"{label} ({target})" if label else target

        resolved = re.sub(r"<([^<>]+)>", sub, text)
        return resolved.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")

    def _user_name(self, user_id: str) -> str:
        user = self._ws.user(user_id)
        return user.display if user else user_id

    def _channel_name(self, channel_id: str) -> str:
        ch = self._ws.channel(channel_id)
        return ch.name if ch else channel_id

    def _usergroup_name(self, group_id: str) -> str:
        return self._ws.usergroup_handle(group_id) or group_id


def _plain(obj: object) -> str:
    if isinstance(obj, dict):
        return str(obj.get("text", ""))
    return str(obj or "")


def _clock(ts: str) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(float(ts)))
