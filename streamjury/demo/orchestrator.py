"""Starts services as separate OS processes, watches them, and stops every one of them.

Each service runs in its own process group, so a Ctrl-C in the terminal reaches only the
orchestrating process, which then stops the services itself: SIGTERM, a grace period, SIGKILL.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from streamjury.errors import ConfigError, StreamjuryError

log = logging.getLogger(__name__)

DEFAULT_STOP_GRACE_S = 20.0
KILL_WAIT_S = 5.0
"""How long to wait for a SIGKILLed process to be reaped (it cannot refuse)."""
LOG_TAIL_LINES = 15


class ServiceDied(StreamjuryError):
    """A service exited while the pipeline still needed it."""


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """How to start one service: a name (for its log file) and the ``streamjury`` arguments."""

    name: str
    args: tuple[str, ...]

    def command(self, python: str) -> list[str]:
        """``python -m streamjury.cli.main ARGS``: needs no console script on PATH."""
        return [python, "-m", "streamjury.cli.main", *self.args]


class ServiceProcess:
    """One started service: its process, its log file, and whether we asked it to end."""

    def __init__(self, spec: ServiceSpec, process: subprocess.Popen[bytes], log_path: Path):
        self.spec = spec
        self.process = process
        self.log_path = log_path
        self.ending = False
        """Set once we signalled it to end, so its exit is not taken for a crash."""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.process.poll()

    def signal(self, signum: signal.Signals) -> None:
        """Signal the service's process group; nothing if it has already exited.

        ``poll`` first: a reaped pid may belong to someone else by now, an unreaped one cannot.
        """
        if self.process.poll() is not None:
            return
        self.ending = True
        with contextlib.suppress(ProcessLookupError):  # exited between the poll and the signal
            os.killpg(self.process.pid, signum)

    def wait(self, timeout: float) -> int | None:
        """The exit code, or None if still running after ``timeout`` seconds."""
        try:
            return self.process.wait(timeout=max(timeout, 0.0))
        except subprocess.TimeoutExpired:
            return None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def describe_exit(self) -> str:
        code = self.returncode
        if code is None:
            return f"{self.name} is running"
        if code < 0:
            return f"{self.name} was ended by {signal.Signals(-code).name}"
        return f"{self.name} exited with code {code}"


class Orchestrator:
    """Runs a set of services; a context manager that never leaves one behind.

    Logs go to ``<log_dir>/<name>.log`` (stdout and stderr, appended across restarts).
    """

    def __init__(
        self,
        specs: Sequence[ServiceSpec],
        log_dir: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        python: str = sys.executable,
        stop_grace_s: float = DEFAULT_STOP_GRACE_S,
    ) -> None:
        names = [spec.name for spec in specs]
        if len(set(names)) != len(names):
            raise ConfigError(f"service names must be unique, got {names}")
        self._specs = {spec.name: spec for spec in specs}
        self._log_dir = log_dir
        self._env = dict(os.environ if env is None else env)
        self._cwd = cwd
        self._python = python
        self._stop_grace_s = stop_grace_s
        self._services: dict[str, ServiceProcess] = {}

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> Orchestrator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop_all()

    def start_all(self) -> None:
        """Start every service that is not running."""
        for name in self._specs:
            if name not in self._services or not self._services[name].running:
                self.start(name)

    def start(self, name: str) -> ServiceProcess:
        """Start (or restart, once it has exited) service ``name``."""
        spec = self._spec(name)
        current = self._services.get(name)
        if current is not None and current.running:
            raise ConfigError(f"service {name} is already running (pid {current.pid})")
        self._log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self._log_dir / f"{name}.log"
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(
                spec.command(self._python),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=self._env,
                cwd=self._cwd,
                process_group=0,
            )
        service = ServiceProcess(spec, process, log_path)
        self._services[name] = service
        log.debug("started %s (pid %d): %s", name, process.pid, " ".join(spec.args))
        return service

    def kill(self, name: str) -> int:
        """SIGKILL service ``name`` and reap it: a crash, for tests and demonstrations.

        Reaping matters: a dead but unreaped process still looks alive to whoever checks its pid.
        """
        service = self[name]
        service.signal(signal.SIGKILL)
        code = service.wait(KILL_WAIT_S)
        if code is None:
            raise StreamjuryError(f"{name} (pid {service.pid}) survived SIGKILL")
        return code

    def stop(self, name: str, grace_s: float | None = None) -> int:
        """Stop one service as ``stop_all`` does; its exit code."""
        return self._stop([self[name]], grace_s)[name]

    def stop_all(self, grace_s: float | None = None) -> dict[str, int]:
        """SIGTERM every running service, wait up to ``grace_s``, SIGKILL any still running.

        Returns each service's exit code (negative: the signal that ended it). A Ctrl-C while
        waiting kills the rest at once rather than leave them running.
        """
        return self._stop(list(self._services.values()), grace_s)

    def _stop(self, services: Sequence[ServiceProcess], grace_s: float | None) -> dict[str, int]:
        grace = self._stop_grace_s if grace_s is None else grace_s
        for service in services:
            service.signal(signal.SIGTERM)
        try:
            deadline = time.monotonic() + grace
            for service in services:
                service.wait(deadline - time.monotonic())
        finally:
            for service in services:
                if service.running:
                    log.warning("%s did not stop within %.0f s: killing it", service.name, grace)
                    service.signal(signal.SIGKILL)
                    service.wait(KILL_WAIT_S)
        return {service.name: self._exit_code(service) for service in services}

    # -- watching --------------------------------------------------------------------------

    def check_running(self) -> None:
        """Raise ServiceDied naming the first service that exited without being asked to."""
        for service in self._services.values():
            if not service.ending and not service.running:
                raise ServiceDied(
                    f"{service.describe_exit()}; last lines of {service.log_path}:\n"
                    f"{service.log_tail()}"
                )

    def __getitem__(self, name: str) -> ServiceProcess:
        service = self._services.get(name)
        if service is None:
            raise ConfigError(f"service {name} has not been started")
        return service

    def __iter__(self) -> Iterator[ServiceProcess]:
        return iter(list(self._services.values()))

    @property
    def log_dir(self) -> Path:
        return self._log_dir

    def _spec(self, name: str) -> ServiceSpec:
        spec = self._specs.get(name)
        if spec is None:
            raise ConfigError(f"unknown service {name!r}: expected one of {', '.join(self._specs)}")
        return spec

    @staticmethod
    def _exit_code(service: ServiceProcess) -> int:
        code = service.returncode
        if code is None:
            raise StreamjuryError(f"{service.name} (pid {service.pid}) could not be stopped")
        return code
