"""The smallest Bolt app: one slash command that only acks, on Bolt's own aiohttp server.

    SLACK_SIGNING_SECRET=… SLACK_BOT_TOKEN=… SLACK_API_URL=… \
        python benchmarks/minimal_bolt_app.py --port 3000 [--process-before-response]

`benchmarks/ack_under_load.py` runs it in a process of its own as the yardstick for serve's acks:
what Bolt itself costs per request on this machine, with nothing done after the ack. By default
it is the app Bolt's getting-started guide writes (listeners run as tasks and Bolt checks for
their ack every 10 ms); `--process-before-response` answers as soon as the listener returns,
as serve does.
"""

from __future__ import annotations

import argparse
import os

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--process-before-response", action="store_true")
    args = parser.parse_args()
    token = os.environ["SLACK_BOT_TOKEN"]
    app = AsyncApp(
        # The token's auth.test goes to the same Slack stand-in as serve's.
        client=AsyncWebClient(token=token, base_url=os.environ["SLACK_API_URL"]),
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        process_before_response=args.process_before_response,
    )

    @app.command("/revoke-bedrock-key")
    async def command(ack: AsyncAck) -> None:
        await ack()

    app.start(port=args.port, path="/slack/events", host="127.0.0.1")


if __name__ == "__main__":
    main()
