"""The check plug-ins: one module per check, each exposing ``SPEC: CheckSpec``.

``consumers.registry`` lists them by name; modules starting with ``_`` are shared helpers.
"""
