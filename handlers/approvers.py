"""Who may approve: configured user ids, plus members of configured Slack user groups.

Group membership comes from `usergroups.users.list` and is cached briefly, so a burst of clicks
costs one Web API call while a removal from the group still takes effect within a minute.
Any failure to read a group counts as "not a member": approval fails closed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)


class SlackApprovers:
    def __init__(
        self,
        client: AsyncWebClient,
        user_ids: Sequence[str],
        usergroup_ids: Sequence[str],
        *,
        ttl_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._user_ids = frozenset(user_ids)
        self._usergroup_ids = tuple(usergroup_ids)
        self._ttl = ttl_seconds
        self._clock = clock
        self._members: dict[str, tuple[float, frozenset[str]]] = {}

    def mentions(self) -> tuple[str, ...]:
        """Mrkdwn mentions that ping every approver on the request message."""
        return tuple(f"<@{u}>" for u in sorted(self._user_ids)) + tuple(
            f"<!subteam^{g}>" for g in self._usergroup_ids
        )

    async def is_approver(self, user_id: str) -> bool:
        if user_id in self._user_ids:
            return True
        for group in self._usergroup_ids:
            if user_id in await self._group_members(group):
                return True
        return False

    async def _group_members(self, group: str) -> frozenset[str]:
        cached = self._members.get(group)
        now = self._clock()
        if cached and now - cached[0] < self._ttl:
            return cached[1]
        try:
            resp = await self._client.usergroups_users_list(usergroup=group)
            members = frozenset(resp.get("users") or ())
        except SlackApiError as exc:
            log.warning(
                "cannot read approver group %s (%s); its members cannot approve",
                group,
                exc.response.get("error"),
            )
            return frozenset()
        self._members[group] = (now, members)
        return members
