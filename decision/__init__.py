"""The decision service: joins each event's verdicts into one decision under a policy.

Pure parts (policy, rules, join_state, table, joiner) need no backend; service.py runs them over
one, and app.py is the composition root used by ``streamjury decide``.
"""
