"""The Debian bookworm Python base image, made from Debian packages: no image registry is needed.

``python -m tests.containers.base_image`` (and the tier's session fixture) imports it into podman
once; the root file system is cached as a tarball under .cache/, so a rerun never debootstraps.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.containers.podman import ROOT, image_exists, podman_env

BASE_IMAGE = "localhost/debian-python:bookworm"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = "python3,python3-venv,ca-certificates"
DEBOOTSTRAP = ["debootstrap", "--variant=minbase", f"--include={PACKAGES}", "bookworm"]
# Caches debootstrap leaves behind: ~100 MB nobody in the image needs.
APT_LEFTOVERS = ("var/cache/apt/archives", "var/lib/apt/lists")


def cache_tarball() -> Path:
    """Named after what makes the file system, so changing the recipe makes a new one."""
    recipe = hashlib.sha256(" ".join([*DEBOOTSTRAP, MIRROR]).encode()).hexdigest()[:12]
    return ROOT / ".cache" / "containers" / f"debian-python-bookworm-{recipe}.tar"


def debootstrap_tarball(tarball: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="debian-python-") as work:
        rootfs = Path(work) / "rootfs"
        subprocess.run([*DEBOOTSTRAP, str(rootfs), MIRROR], check=True, timeout=3600)
        for leftover in APT_LEFTOVERS:
            for item in (rootfs / leftover).glob("*"):
                if item.is_file():
                    item.unlink()
        tarball.parent.mkdir(parents=True, exist_ok=True)
        partial = tarball.with_suffix(".partial")
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(partial), "."], check=True)
        partial.replace(tarball)


def ensure_base_image() -> str:
    """The base image's tag, importing it (from the cached tarball, made if missing) when
    podman does not have it yet."""
    if image_exists(BASE_IMAGE):
        return BASE_IMAGE
    tarball = cache_tarball()
    if not tarball.exists():
        if shutil.which("debootstrap") is None:
            raise RuntimeError("debootstrap is not installed (apt-get install debootstrap)")
        debootstrap_tarball(tarball)
    subprocess.run(
        ["podman", "import", "--quiet", str(tarball), BASE_IMAGE],
        check=True,
        env=podman_env(),
        timeout=600,
        stdout=subprocess.DEVNULL,
    )
    return BASE_IMAGE


if __name__ == "__main__":
    sys.stdout.write(ensure_base_image() + "\n")
