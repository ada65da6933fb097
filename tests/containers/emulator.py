"""AWS's Lambda Runtime Interface Emulator (aws-lambda-rie), built with ``go install``.

It is what AWS's Lambda base images run when no real Lambda service is present: an HTTP
invocation endpoint in front of the Runtime API. The binary is static, so it is mounted into
any image; it is cached under .cache/ per pinned version.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.containers.podman import ROOT

MODULE = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
VERSION = "v0.0.0-20261030222936-bef5c4ba774d"
INVOKE_PATH = "/2015-03-31/functions/function/invocations"


def emulator_path() -> Path:
    return ROOT / ".cache" / "containers" / f"aws-lambda-rie-{VERSION}" / "aws-lambda-rie"


def ensure_emulator() -> Path:
    binary = emulator_path()
    if binary.exists():
        return binary
    go = shutil.which("go") or "/usr/local/go/bin/go"
    binary.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOBIN": str(binary.parent), "CGO_ENABLED": "0"}
    subprocess.run([go, "install", f"{MODULE}@{VERSION}"], check=True, env=env, timeout=1800)
    return binary


if __name__ == "__main__":
    sys.stdout.write(f"{ensure_emulator()}\n")
