"""The container HEALTHCHECK: ``python -m streamjury.ops.probe [--ready]`` exits 0 if healthy.

The slim image has no curl; this asks the service's own ``/healthz`` (or ``/readyz``) instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request

from streamjury.ops.http import HEALTHZ, READYZ

PORT_ENV = "STREAMJURY_HTTP_PORT"


def probe(port: int, *, ready: bool = False, timeout_s: float = 2.0) -> tuple[bool, str]:
    """(healthy, what was seen) for the service on 127.0.0.1:``port``."""
    url = f"http://127.0.0.1:{port}{READYZ if ready else HEALTHZ}"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return True, f"{url}: {response.status}"
    except urllib.error.HTTPError as exc:
        return False, f"{url}: {exc.code}"
    except OSError as exc:
        return False, f"{url}: {exc}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m streamjury.ops.probe", description=__doc__)
    parser.add_argument("--ready", action="store_true", help="probe /readyz instead of /healthz")
    parser.add_argument("--port", type=int, default=None, help=f"default: ${PORT_ENV}")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds (default 2)")
    args = parser.parse_args(argv)
    port = args.port if args.port is not None else int(os.environ.get(PORT_ENV) or 0)
    if port == 0:
        print(f"{PORT_ENV} is 0: this process serves no health endpoint; nothing to probe")
        return 0
    healthy, seen = probe(port, ready=args.ready, timeout_s=args.timeout)
    print(seen)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
