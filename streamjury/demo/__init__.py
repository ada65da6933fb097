"""``streamjury demo``: the whole pipeline as separate processes, fed, timed and accounted for.

Each module has one job: settings, the service commands, process control, events, accounting.
"""
