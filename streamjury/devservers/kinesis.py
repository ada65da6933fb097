"""Run a real Kinesis API locally: kinesis-local (etspaceman/kinesis-mock on npm) under Node.
Installs the pinned npm package into a git-ignored cache and starts/stops it for tests and dev.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from streamjury.devservers.errors import DevServerError

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient

logger = logging.getLogger(__name__)

KINESIS_LOCAL_PACKAGE = "kinesis-local"
KINESIS_LOCAL_VERSION = "0.6.2"
CACHE_ENV_VAR = "STREAMJURY_KINESIS_CACHE"
HOST = "127.0.0.1"
DEFAULT_REGION = "us-east-1"
# Any access key works; a 12-digit one would select that account id inside kinesis-local.
DUMMY_CREDENTIALS: dict[str, str] = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}

# Environment variables kinesis-local honours (see its README); the durations are how long a
# stream/shard/consumer stays CREATING/UPDATING/DELETING. Its default is 500ms each.
_DURATION_VARS: tuple[str, ...] = (
    "CREATE_STREAM_DURATION",
    "DELETE_STREAM_DURATION",
    "REGISTER_STREAM_CONSUMER_DURATION",
    "DEREGISTER_STREAM_CONSUMER_DURATION",
    "START_STREAM_ENCRYPTION_DURATION",
    "STOP_STREAM_ENCRYPTION_DURATION",
    "MERGE_SHARDS_DURATION",
    "SPLIT_SHARD_DURATION",
    "UPDATE_SHARD_COUNT_DURATION",
    "UPDATE_STREAM_MODE_DURATION",
)

# Preloaded into node so the server exits when our stdin pipe closes, i.e. when this Python
# process dies in any way (even SIGKILL, where atexit cannot run).
_PARENT_WATCH_JS = """\
// Written by streamjury.devservers.kinesis: exit when the parent Python process goes away.
process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
// unref: the watcher must not keep node alive after the server shuts down on SIGTERM.
if (typeof process.stdin.unref === "function") process.stdin.unref();
"""
_PARENT_WATCH_NAME = "streamjury-parent-watch.cjs"

_running: set[LocalKinesis] = set()
_running_lock = threading.Lock()
_atexit_registered = False


def default_cache_dir() -> Path:
    """Install location: $STREAMJURY_KINESIS_CACHE, else <repo>/.cache/kinesis-local."""
    override = os.environ.get(CACHE_ENV_VAR)
    if override:
        return Path(override).expanduser().resolve()
    repo = Path(__file__).resolve().parents[2]
    base = repo if (repo / "pyproject.toml").is_file() else Path.cwd()
    return base / ".cache" / "kinesis-local"


def package_dir(cache_dir: Path | None = None) -> Path:
    """Folder of the installed npm package; holds main.js and the server.json TLS cert."""
    return (cache_dir or default_cache_dir()) / "node_modules" / KINESIS_LOCAL_PACKAGE


def installed_version(cache_dir: Path | None = None) -> str | None:
    """Version of kinesis-local in the cache, or None if it is missing or incomplete."""
    pkg = package_dir(cache_dir)
    if not ((pkg / "main.js").is_file() and (pkg / "server.json").is_file()):
        return None
    try:
        version = json.loads((pkg / "package.json").read_text(encoding="utf-8"))["version"]
    except (OSError, ValueError, KeyError):
        return None
    return str(version)


@contextlib.contextmanager
def _install_lock(cache_dir: Path) -> Iterator[None]:
    """Serialise concurrent installs (parallel test workers) into the same cache."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / ".install.lock", "w", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def install(
    cache_dir: Path | None = None,
    *,
    version: str = KINESIS_LOCAL_VERSION,
    timeout: float = 600.0,
) -> Path:
    """Install kinesis-local@version into cache_dir with npm; return the package folder.

    Idempotent: does nothing if that version is already there. The cache is git-ignored so the
    ~16 MB bundle never lands in the repo.
    """
    cache_dir = (cache_dir or default_cache_dir()).resolve()
    pkg = package_dir(cache_dir)
    if installed_version(cache_dir) == version:
        logger.debug("kinesis-local %s already installed in %s", version, pkg)
        return pkg
    npm = shutil.which("npm")
    if npm is None:
        raise DevServerError("npm not found on PATH; install Node.js 18+ to run kinesis-local")
    with _install_lock(cache_dir):
        if installed_version(cache_dir) == version:  # another process won the race
            return pkg
        cmd = [
            npm, "install", "--no-save", "--no-audit", "--no-fund", "--no-package-lock",
            "--prefix", str(cache_dir), f"{KINESIS_LOCAL_PACKAGE}@{version}",
        ]  # fmt: skip
        logger.info("installing %s@%s into %s", KINESIS_LOCAL_PACKAGE, version, cache_dir)
        started = time.monotonic()
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=timeout, check=False, cwd=cache_dir
            )
        except subprocess.TimeoutExpired as exc:
            raise DevServerError(f"npm install kinesis-local timed out after {timeout}s") from exc
        if proc.returncode != 0 or installed_version(cache_dir) != version:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
            raise DevServerError(
                f"npm install {KINESIS_LOCAL_PACKAGE}@{version} failed "
                f"(rc={proc.returncode}) in {cache_dir}:\n{tail}"
            )
        logger.info("installed kinesis-local in %.1fs", time.monotonic() - started)
    return pkg


def free_port(host: str = HOST) -> int:
    """Ask the kernel for a currently free TCP port (racy by nature; start() retries)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _connection_close(request: Any, **kwargs: Any) -> None:
    """botocore before-send hook: ask the server to close the connection after replying."""
    request.headers["Connection"] = "close"


def _kill_all_running() -> None:
    """atexit hook: never leave node processes behind when the interpreter exits."""
    with _running_lock:
        servers = list(_running)
    for server in servers:
        with contextlib.suppress(Exception):
            server.stop(timeout=3.0)


def _register(server: LocalKinesis) -> None:
    global _atexit_registered
    with _running_lock:
        _running.add(server)
        if not _atexit_registered:
            atexit.register(_kill_all_running)
            _atexit_registered = True


def _unregister(server: LocalKinesis) -> None:
    with _running_lock:
        _running.discard(server)


class LocalKinesis:
    """A kinesis-local server on 127.0.0.1 with a free port, usable as a context manager.

    Runs ``node main.js`` from inside the package folder because the server loads its TLS
    certificate (server.json) relative to the working directory. ``account_id`` defaults to
    kinesis-local's 000000000000; pass moto's 123456789012 when stream ARNs must match moto
    (e.g. a Lambda event source mapping, which moto only accepts for a stream it also knows).

    What kinesis-local 0.6.2 supports, checked by hand with boto3 1.44 against these settings:

    * Works: CreateStream (provisioned and ON_DEMAND), DeleteStream, ListStreams,
      DescribeStream, DescribeStreamSummary, ListShards (with ShardFilter, MaxResults/NextToken),
      PutRecord, PutRecords (with ExplicitHashKey), GetShardIterator (TRIM_HORIZON, LATEST,
      AT_TIMESTAMP, AT/AFTER_SEQUENCE_NUMBER), GetRecords, SplitShard, MergeShards,
      UpdateShardCount (UNIFORM_SCALING), AddTagsToStream/ListTagsForStream,
      IncreaseStreamRetentionPeriod, RegisterStreamConsumer/ListStreamConsumers.
    * Does not work with boto3: SubscribeToShard (enhanced fan-out). The server does stream
      SubscribeToShardEvent frames (HTTP/1.1 chunked, application/vnd.amazon.eventstream) but
      never sends the ``initial-response`` event boto3 expects first, so boto3 raises
      ResponseParserError. Consumers must poll with GetRecords.
    * Oddities: sequence numbers are 56-digit decimal strings as on AWS; shard iterators are
      ~200-char base64 strings that expire after 300 s as on AWS (an old iterator stays
      reusable within that window); MillisBehindLatest is real (non-zero while a reader lags,
      0 at the tip); a closed shard returns no NextShardIterator plus ChildShards, and lists its
      EndingSequenceNumber as ``9223372036854775807`` (Long.MaxValue), not a real sequence
      number; a malformed shard iterator gives HTTP 500 instead of InvalidArgumentException;
      PutRecords with more than 500 records is accepted; ListStreams has no StreamSummaries;
      the server binds all interfaces (0.0.0.0, not configurable) though we use 127.0.0.1.
    * Timing with the ``10ms`` state-change durations set here: a new stream is usually already
      ACTIVE when the first DescribeStreamSummary returns; CreateStream to ACTIVE measured
      50-120 ms including the polling round trips; Split/Merge/UpdateShardCount ~15-35 ms.
    """

    def __init__(
        self,
        *,
        cache_dir: Path | None = None,
        port: int | None = None,
        tls_port: int | None = None,
        region: str = DEFAULT_REGION,
        account_id: str | None = None,
        state_change_duration: str = "10ms",
        log_level: str = "WARN",
        log_path: Path | None = None,
        startup_timeout: float = 60.0,
        auto_install: bool = True,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.cache_dir = (cache_dir or default_cache_dir()).resolve()
        self.region = region
        self.account_id = account_id
        self.state_change_duration = state_change_duration
        self.log_level = log_level
        self.startup_timeout = startup_timeout
        self.auto_install = auto_install
        self.extra_env: dict[str, str] = dict(extra_env or {})
        self._fixed_port = port is not None
        self._fixed_tls_port = tls_port is not None
        self.port: int = port or 0
        self.tls_port: int = tls_port or 0
        self._log_path_arg = log_path
        self.log_path: Path | None = None
        self._log_fh: Any = None
        self._proc: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None

    # -- public API -------------------------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        """HTTP endpoint for boto3 ``endpoint_url``; only valid while running."""
        if not self.is_running:
            raise DevServerError("kinesis-local is not running")
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``boto3.client("kinesis", **kw)`` pointing at this server."""
        return {"endpoint_url": self.endpoint_url, "region_name": self.region, **DUMMY_CREDENTIALS}

    def client(self, **config: Any) -> KinesisClient:
        """A boto3 Kinesis client for this server; ``config`` goes to botocore Config."""
        import boto3
        from botocore.config import Config

        return boto3.client("kinesis", config=Config(**config), **self.client_kwargs())

    def start(self) -> LocalKinesis:
        """Install if needed, launch node, and block until ListStreams answers."""
        if self.is_running:
            return self
        pkg = install(self.cache_dir) if self.auto_install else package_dir(self.cache_dir)
        if installed_version(self.cache_dir) is None:
            raise DevServerError(f"kinesis-local is not installed in {self.cache_dir}")
        node = shutil.which("node")
        if node is None:
            raise DevServerError("node not found on PATH; install Node.js 18+ to run kinesis-local")
        watch = self._write_parent_watch()
        attempts = 1 if self._fixed_port and self._fixed_tls_port else 3
        for attempt in range(1, attempts + 1):
            try:
                self._launch(node, pkg, watch)
                self._wait_ready()
                return self
            except DevServerError as exc:
                port_clash = "EADDRINUSE" in self.log_tail()
                self.stop(timeout=3.0, keep_log=True)
                if not (port_clash and attempt < attempts):
                    raise
                logger.warning("kinesis-local port clash (%s); retrying on new ports", exc)
        raise AssertionError("unreachable")

    def stop(self, timeout: float = 2.0, *, keep_log: bool = False) -> None:
        """SIGTERM, wait ``timeout`` s, then SIGKILL; removes the auto-created log file.

        The grace period is short on purpose: the server's graceful shutdown waits up to 30 s
        for clients' idle keep-alive connections, and with persistence off there is nothing
        to flush, so SIGKILL after a moment loses nothing.
        """
        proc, self._proc = self._proc, None
        _unregister(self)
        if proc is not None:
            if proc.poll() is None:
                self._signal(proc, signal.SIGTERM)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    logger.info("kinesis-local pid %s still draining; SIGKILL", proc.pid)
                    self._signal(proc, signal.SIGKILL)
                    proc.wait(timeout=5.0)
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
            logger.info("kinesis-local stopped (pid %s, rc %s)", proc.pid, proc.returncode)
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None
        if not keep_log and self._log_path_arg is None and self.log_path is not None:
            with contextlib.suppress(OSError):
                self.log_path.unlink()

    def log_tail(self, lines: int = 40) -> str:
        """Last lines of the server log, for error messages."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> LocalKinesis:
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
        return f"<LocalKinesis {state} pid={self.pid}>"

    # -- internals --------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "KINESIS_MOCK_PLAIN_PORT": str(self.port),
                "KINESIS_MOCK_TLS_PORT": str(self.tls_port),
                "AWS_REGION": self.region,
                "LOG_LEVEL": self.log_level,
                "SHOULD_PERSIST_DATA": "false",
                "LOAD_DATA_IF_EXISTS": "false",
            }
        )
        env.update({name: self.state_change_duration for name in _DURATION_VARS})
        if self.account_id is not None:
            env["AWS_ACCOUNT_ID"] = self.account_id
        env.update(self.extra_env)
        return env

    def _write_parent_watch(self) -> Path:
        path = self.cache_dir / _PARENT_WATCH_NAME
        if not path.exists() or path.read_text(encoding="utf-8") != _PARENT_WATCH_JS:
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(_PARENT_WATCH_JS, encoding="utf-8")
            tmp.replace(path)
        return path

    def _launch(self, node: str, pkg: Path, watch: Path) -> None:
        if not self._fixed_port:
            self.port = free_port()
        if not self._fixed_tls_port or self.tls_port == self.port:
            self.tls_port = free_port()
            while self.tls_port == self.port:
                self.tls_port = free_port()
        if self._log_path_arg is not None:
            self.log_path = self._log_path_arg
        else:
            self.log_path = self.cache_dir / "logs" / f"kinesis-local-{self.port}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_fh = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self._proc = subprocess.Popen(
            [node, "--require", str(watch), "main.js"],
            cwd=pkg,
            env=self._env(),
            stdin=subprocess.PIPE,
            stdout=self._log_fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in a terminal reaches us, and we stop node cleanly
        )
        _register(self)
        logger.info(
            "kinesis-local pid %s starting on %s:%s (tls %s), log %s",
            self._proc.pid, HOST, self.port, self.tls_port, self.log_path,
        )  # fmt: skip

    def _wait_ready(self) -> None:
        """Poll a real ListStreams call: an open port alone does not mean the API is up."""
        import boto3
        from botocore.config import Config

        started = time.monotonic()
        deadline = started + self.startup_timeout
        client = boto3.client(
            "kinesis",
            endpoint_url=f"http://{HOST}:{self.port}",
            region_name=self.region,
            aws_access_key_id=DUMMY_CREDENTIALS["aws_access_key_id"],
            aws_secret_access_key=DUMMY_CREDENTIALS["aws_secret_access_key"],
            config=Config(connect_timeout=1, read_timeout=3, retries={"max_attempts": 1}),
        )
        # An idle keep-alive connection makes the server's SIGTERM wait up to 30 s, and
        # client.close() does not reliably drop it, so have the server close each one.
        client.meta.events.register("before-send.kinesis", _connection_close)
        try:
            self._poll_ready(client, deadline)
            self.startup_seconds = time.monotonic() - started
            logger.info("kinesis-local ready in %.2fs on port %s", self.startup_seconds, self.port)
        finally:
            client.close()

    def _poll_ready(self, client: KinesisClient, deadline: float) -> None:
        last_error = "none"
        while time.monotonic() < deadline:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                rc = None if proc is None else proc.returncode
                raise DevServerError(
                    f"kinesis-local exited during startup (rc={rc}); log {self.log_path}:\n"
                    f"{self.log_tail()}"
                )
            try:
                client.list_streams(Limit=1)
            except Exception as exc:  # connection refused, reset, 5xx while booting
                last_error = repr(exc)
                time.sleep(0.1)
                continue
            return
        raise DevServerError(
            f"kinesis-local did not answer ListStreams on {HOST}:{self.port} within "
            f"{self.startup_timeout}s (last error: {last_error}); log {self.log_path}:\n"
            f"{self.log_tail()}"
        )

    @staticmethod
    def _signal(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        # node runs in its own session, so its process group id is its pid.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
