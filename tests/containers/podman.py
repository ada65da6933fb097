"""podman as the container tier drives it: one settings file, images built once, containers run.

Every call goes through ``podman()`` with CONTAINERS_CONF set to this folder's containers.conf
(runtime runc, explicit ulimits), so tests and ``make`` targets behave the same.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTAINERS_CONF = Path(__file__).with_name("containers.conf")
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
BUILD_CA_PATH = "/etc/ssl/certs/host-ca.crt"
"""Where a build sees the host's CA bundle (pip trusts it through the PIP_CERT build argument)."""
BUILD_TIMEOUT_S = 3600.0
RUN_TIMEOUT_S = 300.0


class PodmanError(RuntimeError):
    """A podman command failed; the message ends with its output."""


def podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def available() -> bool:
    return shutil.which("podman") is not None


def podman(*args: str, timeout: float = RUN_TIMEOUT_S, check: bool = True) -> str:
    """Runs ``podman ARGS``; its stdout, or PodmanError with the tail of its output."""
    done = subprocess.run(
        ["podman", *args],
        env=podman_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
        raise PodmanError(f"podman {' '.join(args[:3])} ... exited {done.returncode}:\n{tail}")
    return done.stdout


def image_exists(tag: str) -> bool:
    done = subprocess.run(
        ["podman", "image", "exists", tag], env=podman_env(), check=False, timeout=60
    )
    return done.returncode == 0


def image_size_bytes(tag: str) -> int:
    return int(podman("image", "inspect", "--format", "{{.Size}}", tag).strip())


@dataclass(frozen=True)
class Build:
    tag: str
    seconds: float


def build(
    tag: str,
    *,
    dockerfile: str = "Dockerfile",
    build_args: dict[str, str] | None = None,
    target: str | None = None,
    log: Path | None = None,
) -> Build:
    """``podman build`` from the repository root with layer caching and the host CA bundle
    mounted for pip; docker format so HEALTHCHECK is kept in the image's metadata."""
    args = ["build", "--layers", "--format", "docker", "-f", dockerfile, "-t", tag]
    for key, value in (build_args or {}).items():
        args += ["--build-arg", f"{key}={value}"]
    if HOST_CA_BUNDLE.exists():
        args += ["-v", f"{HOST_CA_BUNDLE}:{BUILD_CA_PATH}:ro"]
        args += ["--build-arg", f"PIP_CERT={BUILD_CA_PATH}"]
    if target is not None:
        args += ["--target", target]
    started = time.monotonic()
    output = podman(*args, str(ROOT), timeout=BUILD_TIMEOUT_S)
    if log is not None:
        log.write_text(output, encoding="utf-8")
    return Build(tag, time.monotonic() - started)


def run_args(*, network_host: bool = True, env: dict[str, str] | None = None) -> list[str]:
    """The options every test container gets: host network (the broker listens on loopback)
    and its environment."""
    args = ["--network", "host"] if network_host else []
    for key, value in (env or {}).items():
        args += ["--env", f"{key}={value}"]
    return args


def run_once(image: str, command: Sequence[str], *, env: dict[str, str] | None = None) -> str:
    """A one-shot container (``podman run --rm``); its stdout."""
    return podman("run", "--rm", *run_args(env=env), image, *command)


@dataclass
class Container:
    """A detached container a test started; ``remove()`` always runs at teardown."""

    name: str

    def logs(self) -> str:
        done = subprocess.run(
            ["podman", "logs", self.name],
            env=podman_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return done.stdout + done.stderr

    def running(self) -> bool:
        state = podman("inspect", "--format", "{{.State.Running}}", self.name, check=False)
        return state.strip() == "true"

    def exit_code(self) -> int:
        return int(podman("inspect", "--format", "{{.State.ExitCode}}", self.name).strip())

    def exec(self, *command: str) -> str:
        return podman("exec", self.name, *command)

    def stop(self, grace_s: int = 60) -> int:
        """SIGTERM, then the exit code once it stopped (SIGKILL only after ``grace_s``)."""
        podman("stop", "--time", str(grace_s), self.name, timeout=grace_s + 60)
        return self.exit_code()

    def remove(self) -> None:
        podman("rm", "--force", "--time", "5", self.name, check=False, timeout=120)


def start(
    image: str,
    name: str,
    command: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    extra: Sequence[str] = (),
    network_host: bool = True,
) -> Container:
    podman("run", "--detach", "--name", name, *run_args(network_host=network_host, env=env),
           *extra, image, *command)  # fmt: skip
    return Container(name)
