# syntax=docker/dockerfile:1
# RecurringJob operator image.
#   docker build -t recurringjob-operator:dev .
# Stage 1 builds the project's wheel from pyproject.toml and installs it (with the dependencies
# declared there) into a virtualenv; stage 2 copies only that virtualenv onto the same slim base.
ARG PYTHON_VERSION=3.12.8
ARG DEBIAN_RELEASE=bookworm

FROM python:${PYTHON_VERSION}-slim-${DEBIAN_RELEASE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
# Only what the wheel needs (see .dockerignore): the metadata first, then the package.
COPY pyproject.toml README.md ./
COPY operator/ ./operator/
# The venv has no pip of its own: the builder's pip installs into it (--python), so the final
# image carries no installer and no build backend.
RUN python -m venv --without-pip /opt/venv \
 && python -m pip wheel --no-deps --wheel-dir /tmp/wheels . \
 && python -m pip --python /opt/venv/bin/python install --compile /tmp/wheels/*.whl

FROM python:${PYTHON_VERSION}-slim-${DEBIAN_RELEASE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="recurringjob-operator" \
      org.opencontainers.image.description="Kubernetes operator for recurring Jobs: CronJob semantics, every occurrence launched exactly once" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.documentation="docs/operations.md" \
      org.opencontainers.image.base.name="python:${PYTHON_VERSION}-slim-${DEBIAN_RELEASE}"
COPY --from=builder /opt/venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# Numeric non-root user (no /etc/passwd entry needed): Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
WORKDIR /tmp
# 8080: /metrics (Prometheus), 8081: /healthz (liveness).
EXPOSE 8080 8081
ENTRYPOINT ["recurringjob", "run"]
