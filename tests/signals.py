"""Start children that tests signal with default signal handlers, whatever the test runner has.

A process started in the background by a non-interactive shell inherits SIGINT as ignored, and so
would every child it starts: a test that sends SIGINT ("Ctrl-C") would then test nothing.
"""

from __future__ import annotations

import signal


def restore_default_signals() -> None:
    """``preexec_fn`` of a child that tests signal: SIGINT and SIGTERM back to their defaults."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
