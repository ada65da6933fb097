"""streamjury: a streaming ML inference pipeline.

Events fan out to independent model consumers; a decision service joins their verdicts.
"""

__version__ = "0.1.0"
