# One image for every streamjury service: `docker run IMAGE consume duration`, `... decide`.
# Stage 1 installs the locked dependencies and the package into a venv and trains the models;
# stage 2 is a slim runtime with that venv, the models and an unprivileged user.
# PYTHON_IMAGE: any Debian-based CPython 3.11+ image with python3 and venv (CI builds on one
# made from Debian packages, see tests/containers/base_image.py).

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
# Unset by default; a build behind a TLS-intercepting proxy mounts the host's CA bundle and
# names it here (build arguments reach RUN as environment, and are not kept in the image).
ARG PIP_CERT
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# The locked third-party dependencies first: this layer is reused until the lock changes.
COPY requirements.lock ./
RUN pip install --no-deps --requirement requirements.lock

# Then the package itself, without resolving anything: `pip check` fails the build if the
# lock misses a dependency that pyproject.toml declares.
COPY pyproject.toml README.md ./
COPY streamjury/ streamjury/
COPY producers/ producers/
COPY consumers/ consumers/
COPY decision/ decision/
COPY models/ models/
RUN pip install --no-deps . && pip check

# Models trained from the seeded synthetic data, so the image runs out of the box. Mount your
# own and point STREAMJURY_MODELS at them (a folder or s3://bucket/prefix) to replace them.
ARG TRAIN_ROWS=20000
RUN streamjury train --out /opt/streamjury/models --rows ${TRAIN_ROWS}


FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 streamjury \
    && useradd --system --uid 10001 --gid streamjury \
        --home-dir /var/lib/streamjury --create-home --shell /usr/sbin/nologin streamjury
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /opt/streamjury/models /opt/streamjury/models

# STREAMJURY_HTTP_*: every long-running service serves /healthz, /readyz and /metrics on
# 9108 on all interfaces (the default outside the image is off, on loopback).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    STREAMJURY_MODELS=/opt/streamjury/models \
    STREAMJURY_LOCAL_DIR=/var/lib/streamjury/log \
    STREAMJURY_HTTP_HOST=0.0.0.0 \
    STREAMJURY_HTTP_PORT=9108

USER 10001:10001
WORKDIR /var/lib/streamjury
EXPOSE 9108

# Liveness only; readiness (model loaded, partitions owned) is /readyz, for orchestrators.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-m", "streamjury.ops.probe"]

ENTRYPOINT ["streamjury"]
CMD ["--help"]
