# syntax=docker/dockerfile:1
# crm-bridge: one image for every role (processor, sink, source, ingest) and for the emulator.

# --- build: wheels for the project and its dependencies, with compilers available ---
FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY bridge ./bridge
COPY schemas ./schemas
RUN python -m pip wheel --wheel-dir /wheels .

# --- runtime: no compilers, no pip cache, a non-root user ---
FROM python:3.11-slim-bookworm AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    BRIDGE_METRICS__HOST=0.0.0.0 BRIDGE_PROCESSOR__SCHEMAS_DIR=/app/schemas
RUN groupadd --system --gid 10001 bridge \
 && useradd --system --uid 10001 --gid bridge --home-dir /app --shell /usr/sbin/nologin bridge
COPY --from=build /wheels /wheels
RUN python -m pip install --no-index --find-links /wheels crm-bridge && rm -rf /wheels
WORKDIR /app
COPY --chown=bridge:bridge schemas ./schemas
# The ingest's token file lives here in compose (a named volume takes this folder's owner); mode 0700.
RUN mkdir -p /var/lib/crm-bridge/ingest && chown -R bridge:bridge /var/lib/crm-bridge && chmod 0700 /var/lib/crm-bridge/ingest
USER 10001:10001
EXPOSE 9108 8080
HEALTHCHECK --interval=30s --timeout=3s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:9108/healthz', timeout=2); sys.exit(0)"]
ENTRYPOINT ["crm-bridge"]
CMD ["run", "all"]
