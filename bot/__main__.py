"""`bedrock-revoker` (the console script) and `python -m bot`: the command line."""

from bot.startup import uncollected


def main() -> int:
    # Most of every command's start-up is this import; see bot.startup for why it is uncollected.
    with uncollected():
        from bot.cli import main as command_line
    return command_line()


if __name__ == "__main__":
    raise SystemExit(main())
