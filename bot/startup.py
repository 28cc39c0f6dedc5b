"""Start-up without the cyclic garbage collector walking what start-up makes.

Importing the command line and the app (pydantic building its validators, the Slack and AWS SDKs)
creates over 100,000 objects that live as long as the process, and almost no garbage. With the
collector running, CPython walks them again and again while they pile up: about a tenth of
`serve`'s start-up. Once loaded, every full collection would walk them all again, tens of
milliseconds each, a pause that can land on a Slack request. `uncollected()` pauses collection
for such a block and then freezes what it made (`gc.freeze`: moved where the collector never
looks), so collection goes on only over what the running app allocates. The cost is that the
little cyclic garbage start-up leaves (a few thousand objects) is never freed.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def uncollected() -> Iterator[None]:
    """Pause cyclic garbage collection for the block (imports that load for good), then freeze
    every object alive and resume collection if it was on before."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
