# The gateway as a container: a venv installed from a wheelhouse, non-root, `gateway serve`,
# health checked on /readyz.
#
# Nothing but the base image is pulled and nothing is downloaded: build the wheelhouse first
# (`make wheelhouse`: the project's wheel and its locked dependencies, for CPython 3.11 on
# glibc 2.36+), then `docker build --network none .`. `make image` and `make image-test` do all
# of it. No Python source is copied: the package(s) come from the project's wheel.
#
# BASE_IMAGE: any Debian bookworm-or-newer image with CPython 3.11 and its venv module, e.g. the
# official python:3.11-slim (python at /usr/local/bin) or a debootstrap'd bookworm with python3
# and python3-venv (no pip): both get the same venv at /opt/venv.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS install
LABEL org.opencontainers.image.title=erp-coexistence-gateway
COPY wheelhouse /wheels
COPY constraints.txt /wheels/constraints.txt
# pip and setuptools only install; the runtime venv keeps neither.
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --no-index --find-links /wheels \
      --constraint /wheels/constraints.txt erp-coexistence-gateway \
 && /opt/venv/bin/pip uninstall --yes --quiet pip setuptools

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title=erp-coexistence-gateway
RUN groupadd --gid 10001 gateway \
 && useradd --uid 10001 --gid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin \
      gateway
COPY --from=install /opt/venv /opt/venv
WORKDIR /app
# Root-owned, read-only for the gateway: it reads its configuration and never writes it.
COPY routes.yaml ./
COPY backends ./backends
COPY policies ./policies
# GATEWAY_HOST, GATEWAY_PORT and GATEWAY_WORKERS are read by this image's CMD and HEALTHCHECK
# only. One worker by default: several workers need a shared store (GATEWAY_REDIS_URL), or
# each would keep its own idempotency keys, rate limits and ID cross-reference.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    GATEWAY_CONFIG_DIR=/app \
    GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=8080 \
    GATEWAY_WORKERS=1
USER gateway
EXPOSE 8080
# On the gateway's own port (GATEWAY_PORT) over loopback. A container running a simulator from
# this image has no /readyz: give it its own check (deploy/compose.yaml) or --no-healthcheck.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD python -c "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('GATEWAY_PORT', '8080'), timeout=2)"
# SIGTERM: uvicorn stops accepting, finishes in-flight requests (30 s drain), flushes logs.
# `exec`: the gateway, not a shell, is PID 1 and gets the signal.
STOPSIGNAL SIGTERM
CMD exec gateway serve --host "$GATEWAY_HOST" --port "$GATEWAY_PORT" --workers "$GATEWAY_WORKERS"
