# The gateway as a container: slim Python, non-root, `gateway serve`, health checked on /readyz.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app gateway
COPY --from=build /install /usr/local
WORKDIR /app
COPY --chown=gateway routes.yaml ./
COPY --chown=gateway backends ./backends
COPY --chown=gateway policies ./policies
USER gateway
ENV GATEWAY_CONFIG_DIR=/app PYTHONUNBUFFERED=1
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=2s --start-period=5s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=2).status == 200 else 1)"
# SIGTERM: uvicorn stops accepting, finishes in-flight requests (30 s drain), flushes logs.
STOPSIGNAL SIGTERM
CMD ["gateway", "serve", "--host", "0.0.0.0", "--port", "8080", "--workers", "2"]
