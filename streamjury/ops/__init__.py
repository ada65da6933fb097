"""Operating streamjury's services: Prometheus metrics, health and readiness over HTTP, lag.

Nothing here runs at import; each service builds what it needs in its composition root.
"""
