"""An in-process moto server (Lambda, IAM, S3, DynamoDB, SQS) on 127.0.0.1 for tests and dev.
Gives boto3 a real HTTP endpoint so code under test uses ``endpoint_url`` exactly as in prod.
"""

from __future__ import annotations

import logging
import threading
import urllib.request
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from streamjury.devservers.errors import DevServerError

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
DEFAULT_REGION = "us-east-1"
DUMMY_CREDENTIALS: dict[str, str] = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


class MotoServer:
    """``moto.server.ThreadedMotoServer`` bound to 127.0.0.1 on a kernel-chosen free port.

    Port 0 is passed to the server itself, so there is no pick-then-bind race. The server
    runs in a daemon thread of this process: its state is process-global and shared with any
    in-process ``mock_aws`` in the same interpreter, so call ``reset()`` between tests.

    What works without Docker (moto 5.x, checked by hand with boto3): IAM roles, S3, DynamoDB,
    SQS fully; Lambda CreateFunction from a zip, GetFunction, UpdateFunctionCode/Configuration,
    ListFunctions, DeleteFunction; CreateEventSourceMapping for a Kinesis stream ARN plus
    Get/List/Update/DeleteEventSourceMapping (mapping-only: moto never polls Kinesis).
    CreateEventSourceMapping only accepts a Kinesis ARN for a stream that exists in moto's own
    Kinesis backend, so mirror the stream into moto (same name, and start kinesis-local with
    ``account_id="123456789012"`` so the ARNs match). Lambda Invoke needs Docker: without it
    moto answers 200 with FunctionError "Handled" and the Docker error as payload.
    """

    def __init__(self, *, region: str = DEFAULT_REGION, verbose: bool = False) -> None:
        """``verbose=False`` also keeps werkzeug's per-request access log off stderr."""
        self.region = region
        self._verbose = verbose
        self._server: ThreadedMotoServer | None = None
        self._lock = threading.Lock()
        self.port: int = 0

    @property
    def endpoint_url(self) -> str:
        """HTTP endpoint for boto3 ``endpoint_url``; only valid while running."""
        if self._server is None:
            raise DevServerError("moto server is not running")
        return f"http://{HOST}:{self.port}"

    @property
    def is_running(self) -> bool:
        return self._server is not None

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``boto3.client(service, **kw)`` pointing at this server."""
        return {"endpoint_url": self.endpoint_url, "region_name": self.region, **DUMMY_CREDENTIALS}

    def client(self, service_name: str, **config: Any) -> Any:
        """A boto3 client for ``service_name`` on this server; ``config`` goes to botocore."""
        import boto3
        from botocore.config import Config

        # Typed as a plain callable: the stubs' per-service overloads need a literal name.
        factory: Callable[..., Any] = boto3.client
        return factory(service_name, config=Config(**config), **self.client_kwargs())

    def start(self) -> MotoServer:
        """Start the server thread; idempotent. Imports moto lazily (it is slow to import)."""
        with self._lock:
            if self._server is not None:
                return self
            try:
                from moto.server import ThreadedMotoServer
            except ImportError as exc:
                raise DevServerError(
                    "moto[server] is not installed; pip install -e '.[dev]'"
                ) from exc
            if not self._verbose:
                werkzeug_log = logging.getLogger("werkzeug")
                if werkzeug_log.level == logging.NOTSET:
                    werkzeug_log.setLevel(logging.WARNING)
            server = ThreadedMotoServer(ip_address=HOST, port=0, verbose=self._verbose)
            server.start()
            self.port = int(server.get_host_and_port()[1])
            self._server = server
        logger.info("moto server listening on %s", self.endpoint_url)
        return self

    def reset(self) -> None:
        """Drop all moto state (every service, every account) via the moto reset API."""
        url = f"{self.endpoint_url}/moto-api/reset"  # always http://127.0.0.1:<port>
        request = urllib.request.Request(url, method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            response.read()

    def stop(self) -> None:
        """Shut the werkzeug server down and join its thread."""
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.stop()
            logger.info("moto server on %s:%s stopped", HOST, self.port)

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"running on {HOST}:{self.port}" if self.is_running else "stopped"
        return f"<MotoServer {state}>"
