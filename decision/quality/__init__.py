"""Live model quality: verdicts joined with ride outcomes, exported as Prometheus metrics.

A service of its own (``streamjury quality``), beside the decision service rather than inside it:
it reads ``verdicts``, ``verdicts-shadow`` and ``outcomes`` with its own group, writes nothing,
and so can neither slow nor stop a decision.
"""
