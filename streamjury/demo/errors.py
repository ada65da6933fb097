"""The demo's own error: the run ended, but could not show an exact pipeline.

Subclasses ``StreamjuryError``, so the CLI prints it as one line and exits 1.
"""

from __future__ import annotations

from streamjury.errors import StreamjuryError


class DemoFailed(StreamjuryError):
    """The run could not show an exact pipeline; the message is the one-line reason."""
