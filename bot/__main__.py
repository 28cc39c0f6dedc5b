"""`bedrock-revoker` (the console script) and `python -m bot`: the command line."""

import os
import select
import sys

from bot.startup import uncollected

EXIT_READER_GONE = 141  # what a shell reports for a writer whose reader went away (128 + SIGPIPE)


def main() -> int:
    # Most of every command's start-up is this import; see bot.startup for why it is uncollected.
    with uncollected():
        from bot.cli import main as command_line
    try:
        code = command_line()
        sys.stdout.flush()  # now, so that a reader that went away is seen below, not at exit
    except BrokenPipeError:
        if not _reader_gone():
            raise  # a broken pipe of something else (a socket): not ours to hide
        # `bedrock-revoker policy ... | head`: the reader took what it wanted. Python would
        # flush stdout again at exit and print a traceback; point it at /dev/null instead.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_READER_GONE
    return code


def _reader_gone() -> bool:
    """stdout is a pipe whose reading end is closed (POSIX poll reports POLLERR for it)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows), or no real stdout
        return False


if __name__ == "__main__":
    raise SystemExit(main())
