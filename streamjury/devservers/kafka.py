"""A real single-node Apache Kafka broker (KRaft) run from Maven Central jars.

Used by the integration tests and `scripts/kafka-local` so nothing needs Docker or a tarball.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import fcntl
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from streamjury.devservers.errors import DevServerError

log = logging.getLogger(__name__)

#: The one place that names the Kafka version: the newest release whose artifacts all resolve
#: from Maven Central. install() passes it to Maven; docker-compose.yml's image tag, the pom's
#: default and the docs are checked against it (tests/unit/devservers/test_kafka_version.py).
KAFKA_VERSION = "4.4.0"

POM_PATH = Path(__file__).with_name("kafka-pom.xml")
FORMAT_TIMEOUT_S = 300.0
"""Formatting storage is a short JVM run, but a loaded machine can make it take minutes."""
CACHE_ENV = "STREAMJURY_KAFKA_CACHE"
_MARKER = ".installed"
_REPO_ROOT = Path(__file__).resolve().parents[2]

#: JVM flags measured to cut start time and memory on a 2-core machine; C1-only JIT and the
#: serial GC start faster and need far less native memory than the default C2 + G1.
DEFAULT_JVM_OPTIONS: tuple[str, ...] = (
    "-Xms64m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:ReservedCodeCacheSize=64m",
    "-XX:MaxMetaspaceSize=128m",
    "-Xss512k",
    "-Xshare:auto",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)

#: Broker settings beyond the listeners: replication factor 1 for the internal topics and
#: few threads/partitions so the JVM stays small and the first consumer group joins fast.
DEFAULT_BROKER_PROPERTIES: dict[str, str] = {
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "6",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "6",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    "num.partitions": "6",
    "default.replication.factor": "1",
    "min.insync.replicas": "1",
    "auto.create.topics.enable": "false",
    "delete.topic.enable": "true",
    "auto.leader.rebalance.enable": "false",
    "num.network.threads": "2",
    "num.io.threads": "2",
    "background.threads": "2",
    "num.recovery.threads.per.data.dir": "1",
    "num.replica.fetchers": "1",
    "log.cleaner.threads": "1",
    "log.cleaner.dedupe.buffer.size": "8388608",
    "log.retention.hours": "1",
    "log.retention.check.interval.ms": "60000",
    "log.segment.bytes": "16777216",
    "log.index.size.max.bytes": "1048576",
    "socket.request.max.bytes": "104857600",
}

_LOG4J2_XML = """\
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by streamjury.devservers.kafka: WARN for everything, INFO for start/stop. -->
<Configuration status="WARN" shutdownHook="disable">
  <Appenders>
    <Console name="STDOUT" target="SYSTEM_OUT">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Logger name="kafka.server.KafkaRaftServer" level="INFO"/>
    <Logger name="kafka.server.BrokerServer" level="INFO"/>
    <Logger name="kafka.server.ControllerServer" level="INFO"/>
    <Logger name="kafka.Kafka$" level="INFO"/>
    <Root level="WARN"><AppenderRef ref="STDOUT"/></Root>
  </Loggers>
</Configuration>
"""

_live_brokers: set[LocalKafkaBroker] = set()
_atexit_lock = threading.Lock()
_atexit_registered = False


class _PortClashError(DevServerError):
    """The JVM could not bind a port we had probed as free (someone took it meanwhile)."""


def default_cache_dir() -> Path:
    """Where the broker jars go: $STREAMJURY_KAFKA_CACHE, else <repo>/.cache/kafka.

    Outside a source checkout (no pyproject.toml next to the package) fall back to
    ~/.cache/streamjury/kafka so an installed wheel never writes into site-packages.
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser().resolve()
    if (_REPO_ROOT / "pyproject.toml").is_file():
        return _REPO_ROOT / ".cache" / "kafka"
    return Path.home() / ".cache" / "streamjury" / "kafka"


def _java_executable() -> str:
    """Prefer $JAVA_HOME/bin/java so a user can pick the JDK; else java on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise DevServerError("java not found on PATH (Kafka needs Java 17+); set JAVA_HOME")
    return java


def missing_prerequisites() -> list[str]:
    """Names of the tools that are missing (java, mvn), so callers can skip with a reason."""
    missing = []
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        missing.append("java")
    if shutil.which("mvn") is None:
        missing.append("mvn")
    return missing


def _tail(path: Path, lines: int = 60) -> str:
    """Last lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Serialise installs across processes (parallel test runs share one cache)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def install(
    cache_dir: Path | None = None,
    *,
    version: str = KAFKA_VERSION,
    timeout: float = 900.0,
) -> Path:
    """Download the broker jars with Maven into <cache>/kafka-<ver>/libs and return that dir.

    Idempotent: a marker file written after a complete download makes later calls free.
    Jars are copied into a temporary dir first and renamed, so an interrupted download
    never leaves a half-filled libs dir that looks installed.
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    home = cache / f"kafka-{version}"
    libs = home / "libs"
    marker = home / _MARKER
    if marker.is_file():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise DevServerError("mvn not found on PATH; Maven is needed to fetch the Kafka jars")
    with _file_lock(cache / f"kafka-{version}.lock"):
        if marker.is_file():  # another process finished while we waited for the lock
            return libs
        home.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="libs-", dir=home))
        cmd = [
            mvn,
            "-q",
            "-B",
            "-f",
            str(POM_PATH),
            f"-Dkafka.version={version}",
            "dependency:copy-dependencies",
            f"-DoutputDirectory={staging}",
        ]
        log.info("installing Kafka %s into %s", version, libs)
        started = time.monotonic()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise DevServerError(f"mvn did not finish within {timeout:.0f}s: {cmd}") from exc
        if proc.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            output = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
            raise DevServerError(
                f"mvn failed (exit {proc.returncode}) fetching Kafka {version}: "
                f"{' '.join(cmd)}\n{output}"
            )
        required = [f"kafka_2.13-{version}.jar", "log4j-slf4j-impl"]
        names = [p.name for p in staging.iterdir()]
        for needle in required:
            if not any(name.startswith(needle) for name in names):
                shutil.rmtree(staging, ignore_errors=True)
                raise DevServerError(f"mvn finished but {needle}* is missing from {staging}")
        if libs.exists():
            shutil.rmtree(libs)
        staging.rename(libs)
        marker.write_text(f"{version}\n" + "\n".join(sorted(names)) + "\n")
        log.info(
            "installed Kafka %s (%d jars) in %.1fs", version, len(names), time.monotonic() - started
        )
    return libs


def _free_port() -> int:
    """A port the kernel says is free on 127.0.0.1 right now (small race, fine for tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _random_cluster_id() -> str:
    """Kafka's cluster-id format (base64url of 16 random bytes, no padding).

    Done in Python to avoid a second JVM start for `kafka-storage random-uuid`; Kafka
    rejects ids starting with '-', so draw again in that case.
    """
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cid.startswith("-"):
            return cid


def _stop_live_brokers() -> None:
    """atexit hook: no broker JVM (nor its temp dir) may outlive the Python process."""
    for broker in list(_live_brokers):
        with contextlib.suppress(Exception):
            broker.close(stop_timeout=10.0)


def _ensure_atexit() -> None:
    """Register the atexit hook lazily, on the first start (no import-time side effects)."""
    global _atexit_registered
    with _atexit_lock:
        if not _atexit_registered:
            atexit.register(_stop_live_brokers)
            _atexit_registered = True


class LocalKafkaBroker:
    """One KRaft broker+controller JVM on 127.0.0.1, with its own data dir and log file.

    Ports and data dir are chosen once and kept across stop()/start()/restart(), so a test
    can bounce the broker and clients reconnect to the same address with the same data.
    """

    def __init__(
        self,
        *,
        work_dir: Path | None = None,
        cache_dir: Path | None = None,
        version: str = KAFKA_VERSION,
        port: int | None = None,
        controller_port: int | None = None,
        jvm_options: Sequence[str] = DEFAULT_JVM_OPTIONS,
        properties: Mapping[str, str] | None = None,
        startup_timeout: float = 90.0,
        node_id: int = 1,
        quorum: Mapping[int, int] | None = None,
        cluster_id: str | None = None,
    ) -> None:
        """Configure only; nothing is downloaded or started until start().

        work_dir holds server.properties, log4j2.xml, broker.log and data/; when omitted a
        temporary dir is used and deleted by close() (stop() keeps it for restart()).
        ``quorum`` (node id -> controller port, this node's included) and ``cluster_id`` make
        the node one of a cluster (see LocalKafkaCluster); alone, it is its own quorum.
        """
        self.node_id = node_id
        self._quorum = dict(quorum) if quorum is not None else None
        self._cluster_id = cluster_id
        if self._quorum is not None:
            controller_port = self._quorum[node_id]
        self._owns_work_dir = work_dir is None
        self._work_dir = Path(work_dir) if work_dir is not None else None
        self._cache_dir = cache_dir
        self.version = version
        self._port = port
        self._controller_port = controller_port
        self._jvm_options = tuple(jvm_options)
        self._extra_properties = dict(properties or {})
        self.startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_fh: IO[bytes] | None = None
        self._log_offset = 0
        self.last_start_seconds: float | None = None

    # -- paths and addresses -------------------------------------------------------------

    @property
    def work_dir(self) -> Path:
        """Created lazily so an unused broker object leaves no temp dir behind."""
        if self._work_dir is None:
            self._work_dir = Path(tempfile.mkdtemp(prefix="streamjury-kafka-"))
        return self._work_dir

    @property
    def data_dir(self) -> Path:
        return self.work_dir / "data"

    @property
    def log_path(self) -> Path:
        """The broker's stdout/stderr (log4j2 console appender); appended across restarts."""
        return self.work_dir / "broker.log"

    @property
    def port(self) -> int:
        if self._port is None:
            raise DevServerError("broker has no port yet: call start() first")
        return self._port

    @property
    def controller_port(self) -> int:
        if self._controller_port is None:
            raise DevServerError("broker has no controller port yet: call start() first")
        return self._controller_port

    @property
    def bootstrap_servers(self) -> str:
        """Value for the clients' bootstrap.servers setting."""
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def wait(self) -> int:
        """Block until the JVM exits (foreground use); returns its exit code."""
        if self._proc is None:
            raise DevServerError("broker is not running")
        return self._proc.wait()

    # -- config --------------------------------------------------------------------------

    def _server_properties(self) -> dict[str, str]:
        quorum = self._quorum or {self.node_id: self.controller_port}
        voters = ",".join(f"{node}@127.0.0.1:{port}" for node, port in sorted(quorum.items()))
        props = {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "controller.quorum.voters": voters,
            "listeners": (
                f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
            ),
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir),
        }
        props.update(DEFAULT_BROKER_PROPERTIES)
        props.update(self._extra_properties)
        return props

    def _write_config(self) -> Path:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.work_dir / "server.properties"
        body = "".join(f"{k}={v}\n" for k, v in self._server_properties().items())
        config.write_text("# written by streamjury.devservers.kafka\n" + body)
        (self.work_dir / "log4j2.xml").write_text(_LOG4J2_XML)
        return config

    def _java_cmd(self, libs: Path, main_class: str, *args: str) -> list[str]:
        return [
            _java_executable(),
            *self._jvm_options,
            f"-Dlog4j2.configurationFile={self.work_dir / 'log4j2.xml'}",
            f"-Dkafka.logs.dir={self.work_dir}",
            "-cp",
            f"{libs}/*",
            main_class,
            *args,
        ]

    def _format_storage(self, libs: Path, config: Path) -> None:
        """Format the KRaft metadata dir once; a restart reuses the formatted data dir."""
        if (self.data_dir / "meta.properties").is_file():
            return
        cmd = self._java_cmd(
            libs,
            "kafka.tools.StorageTool",
            "format",
            "--config",
            str(config),
            "--cluster-id",
            self._cluster_id or _random_cluster_id(),
            "--ignore-formatted",
        )
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=FORMAT_TIMEOUT_S, check=False
        )
        if proc.returncode != 0:
            raise DevServerError(
                f"kafka StorageTool format failed (exit {proc.returncode}):\n"
                f"{proc.stdout}{proc.stderr}"
            )

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> Self:
        """Install if needed, format storage, launch the JVM and wait until it serves clients.

        Ports picked here are only probed free, so another process can take one before the
        JVM binds it; on the first start such a clash is retried with fresh ports and a
        fresh data dir. Later starts (restart()) must keep their ports and do not retry.
        """
        if self.is_running():
            return self
        t0 = time.monotonic()
        libs = install(self._cache_dir, version=self.version)
        first_start = not (self.data_dir / "meta.properties").is_file()
        auto_port = self._port is None
        auto_controller_port = self._controller_port is None
        can_retry = first_start and (auto_port or auto_controller_port)
        for attempt in range(1, 4):
            if self._port is None:
                self._port = _free_port()
            while self._controller_port is None or self._controller_port == self._port:
                self._controller_port = _free_port()
            try:
                self._launch(libs, deadline=t0 + self.startup_timeout)
                break
            except _PortClashError as exc:
                self.stop(timeout=10.0)
                if not can_retry or attempt == 3:
                    raise
                log.warning(
                    "Kafka port clash (%s); retrying with new ports", str(exc).splitlines()[0]
                )
                if auto_port:
                    self._port = None
                if auto_controller_port:
                    self._controller_port = None
                shutil.rmtree(self.data_dir, ignore_errors=True)
            except BaseException:
                self.stop(timeout=10.0)
                raise
        self.last_start_seconds = time.monotonic() - t0
        log.info(
            "Kafka %s ready on %s in %.1fs (pid %s, log %s)",
            self.version,
            self.bootstrap_servers,
            self.last_start_seconds,
            self.pid,
            self.log_path,
        )
        return self

    def _launch(self, libs: Path, deadline: float) -> None:
        """Write config, format once, start the JVM, and wait until it answers."""
        config = self._write_config()
        self._format_storage(libs, config)
        cmd = self._java_cmd(libs, "kafka.Kafka", str(config))
        # setpriv --pdeathsig: the kernel sends SIGTERM to the JVM if we die without running
        # atexit (SIGKILL, pytest-timeout). It fires when the *thread* that forked exits,
        # so it is only used from the main thread.
        setpriv = shutil.which("setpriv")
        if setpriv and threading.current_thread() is threading.main_thread():
            cmd = [setpriv, "--pdeathsig", "TERM", *cmd]
        self._log_fh = self.log_path.open("ab")
        self._log_fh.write(
            f"--- streamjury: starting Kafka {self.version} on {self.bootstrap_servers} "
            f"at {time.strftime('%Y-%m-%d %H:%M:%S')} ---\n".encode()
        )
        self._log_fh.flush()
        self._log_offset = self._log_fh.tell()
        _ensure_atexit()
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log_fh,
            stderr=subprocess.STDOUT,
            cwd=self.work_dir,
            start_new_session=True,  # Ctrl-C in a terminal reaches us, and we stop it cleanly
        )
        _live_brokers.add(self)
        self._wait_ready(deadline=deadline)

    def _exited_during_startup(self) -> DevServerError:
        code = self._proc.returncode if self._proc is not None else None
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(self._log_offset)
                this_run = fh.read().decode(errors="replace")
        except OSError:
            this_run = ""
        cls = _PortClashError if "Address already in use" in this_run else DevServerError
        return self._fail(f"exited with code {code} during startup", cls)

    def _fail(self, why: str, cls: type[DevServerError] = DevServerError) -> DevServerError:
        return cls(
            f"Kafka broker on {self.bootstrap_servers} {why}.\n"
            f"--- tail of {self.log_path} ---\n{_tail(self.log_path)}"
        )

    def _admin_config(self) -> dict[str, str | int | float | bool]:
        """Our own probe clients report failures through DevServerError, so keep librdkafka
        from printing 'connection refused' noise to stderr when the broker goes away."""
        return {"bootstrap.servers": self.bootstrap_servers, "log_level": 2}

    def _wait_ready(self, deadline: float) -> None:
        """Wait for the TCP listener, then for a real metadata answer from the broker.

        The cheap socket probe comes first so librdkafka does not log a burst of
        'connection refused' errors while the JVM boots.
        """
        while True:
            if self._proc is None or self._proc.poll() is not None:
                raise self._exited_during_startup()
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
            ):
                break
            if time.monotonic() > deadline:
                raise self._fail(f"did not open its port within {self.startup_timeout:.0f}s")
            time.sleep(0.1)

        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        admin = AdminClient(self._admin_config())
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise self._exited_during_startup()
            try:
                metadata = admin.list_topics(
                    timeout=min(5.0, max(0.5, deadline - time.monotonic()))
                )
            except KafkaException as exc:
                last_error = exc
                time.sleep(0.2)
                continue
            if metadata.brokers:
                return
            time.sleep(0.2)
        raise self._fail(
            f"did not answer metadata requests within {self.startup_timeout:.0f}s "
            f"(last error: {last_error})"
        )

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM for a clean shutdown (flushes logs, closes segments), SIGKILL if it hangs.

        Keeps ports and the data dir so start() brings back the same broker.
        """
        proc = self._proc
        if proc is not None:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    log.warning(
                        "Kafka pid %s ignored SIGTERM for %.0fs; killing", proc.pid, timeout
                    )
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    proc.wait(timeout=10.0)
            self._proc = None
        _live_brokers.discard(self)
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None

    def kill(self) -> None:
        """SIGKILL the JVM, as when its machine dies (no clean shutdown); start() brings the
        node back on the same ports with whatever its data dir holds."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout=10.0)
        self.stop(timeout=0.0)

    def restart(self, stop_timeout: float = 30.0) -> Self:
        """Stop and start again on the same ports with the same data (broker-bounce tests)."""
        self.stop(timeout=stop_timeout)
        return self.start()

    def close(self, stop_timeout: float = 30.0) -> None:
        """Stop, and delete the work dir if it was a temporary one we created."""
        self.stop(timeout=stop_timeout)
        if self._owns_work_dir and self._work_dir is not None:
            shutil.rmtree(self._work_dir, ignore_errors=True)
            self._work_dir = None

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.close()  # __exit__ is not called when __enter__ raises
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- conveniences for tests ----------------------------------------------------------

    def create_topic(
        self,
        name: str,
        partitions: int = 3,
        *,
        config: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        """Create a topic and wait until every partition has a leader, so producing right
        after it does not hit UNKNOWN_TOPIC_OR_PART (auto-create is off)."""
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient(self._admin_config())
        topic = NewTopic(
            name, num_partitions=partitions, replication_factor=1, config=dict(config or {})
        )
        futures = admin.create_topics([topic], operation_timeout=timeout, request_timeout=timeout)
        futures[name].result(timeout=timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            md = admin.list_topics(topic=name, timeout=5.0).topics.get(name)
            if (
                md is not None
                and md.error is None
                and len(md.partitions) == partitions
                and all(p.leader >= 0 for p in md.partitions.values())
            ):
                return
            time.sleep(0.1)
        raise self._fail(f"created topic {name!r} but its partitions got no leader in {timeout}s")

    def __repr__(self) -> str:
        where = f"127.0.0.1:{self._port}" if self._port else "unstarted"
        return f"LocalKafkaBroker({self.version}, {where}, pid={self.pid})"


CLUSTER_PROPERTIES: dict[str, str] = {
    "offsets.topic.replication.factor": "3",
    "transaction.state.log.replication.factor": "3",
    "transaction.state.log.min.isr": "2",
    "share.coordinator.state.topic.replication.factor": "3",
    "share.coordinator.state.topic.min.isr": "2",
    "default.replication.factor": "3",
    "min.insync.replicas": "2",
}
"""What a three-node cluster changes: every topic on three nodes, a write needs two of them."""


class LocalKafkaCluster:
    """N KRaft nodes (each broker and controller) on 127.0.0.1, as production runs Kafka.

    With three nodes, every topic (internal ones too) has replication factor 3 and
    ``min.insync.replicas`` 2, so any one node can die without losing an acknowledged write
    or stopping the cluster. Each node keeps its ports and data across stop()/start().
    """

    def __init__(
        self,
        nodes: int = 3,
        *,
        cache_dir: Path | None = None,
        version: str = KAFKA_VERSION,
        startup_timeout: float = 300.0,
    ) -> None:
        if nodes < 1:
            raise DevServerError(f"a cluster needs at least one node, not {nodes}")
        ports = _distinct_free_ports(2 * nodes)
        quorum = {node: ports[nodes + node - 1] for node in range(1, nodes + 1)}
        cluster_id = _random_cluster_id()
        properties = CLUSTER_PROPERTIES if nodes >= 3 else {}
        self.brokers = [
            LocalKafkaBroker(
                cache_dir=cache_dir,
                version=version,
                port=ports[node - 1],
                node_id=node,
                quorum=quorum,
                cluster_id=cluster_id,
                properties=properties,
                startup_timeout=startup_timeout,
            )
            for node in quorum
        ]

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(broker.bootstrap_servers for broker in self.brokers)

    def node(self, node_id: int) -> LocalKafkaBroker:
        """The node with this id (Kafka's broker id, as metadata names partition leaders)."""
        for broker in self.brokers:
            if broker.node_id == node_id:
                return broker
        raise DevServerError(f"no node {node_id} in this cluster")

    def start(self) -> Self:
        """Start every node at once (none is ready before a quorum of controllers is up)."""
        libs = install(self.brokers[0]._cache_dir, version=self.brokers[0].version)
        for broker in self.brokers:  # one JVM at a time: formatting is quick, alone
            broker._format_storage(libs, broker._write_config())
        errors: list[BaseException] = []

        def start(broker: LocalKafkaBroker) -> None:
            try:
                broker.start()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=start, args=(b,), daemon=True) for b in self.brokers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            self.close()
            raise errors[0]
        return self

    def close(self, stop_timeout: float = 15.0) -> None:
        """Stop every node at once: stopped one by one, the last ones would wait for a
        controller quorum that is gone."""
        threads = [
            threading.Thread(target=broker.close, args=(stop_timeout,), daemon=True)
            for broker in self.brokers
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LocalKafkaCluster({len(self.brokers)} nodes, {self.bootstrap_servers})"


def _distinct_free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = _free_port()
        if port not in ports:
            ports.append(port)
    return ports


def start_kafka_cluster(nodes: int, *, startup_timeout: float = 300.0) -> LocalKafkaCluster:
    """A running cluster of ``nodes`` KRaft nodes; the caller must close() it (or use ``with``)."""
    missing = missing_prerequisites()
    if missing:
        raise DevServerError(f"cannot run a Kafka cluster, missing: {', '.join(missing)}")
    return LocalKafkaCluster(nodes, startup_timeout=startup_timeout).start()


def start_kafka_for_tests(
    *,
    work_dir: Path | None = None,
    startup_timeout: float = 120.0,
) -> LocalKafkaBroker:
    """Start a broker for a pytest fixture; the caller must call close() (or use `with`).

    Fails with DevServerError naming the missing tool rather than skipping, so a broken
    environment shows up as an error instead of silently-skipped Kafka tests.
    """
    missing = missing_prerequisites()
    if missing:
        raise DevServerError(f"cannot run the Kafka test broker, missing: {', '.join(missing)}")
    broker = LocalKafkaBroker(work_dir=work_dir, startup_timeout=startup_timeout)
    try:
        broker.start()
    except BaseException:
        broker.close()
        raise
    return broker
