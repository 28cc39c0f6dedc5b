# syntax=docker/dockerfile:1
# bedrock-key-revoker: `bedrock-revoker serve` (Slack app; Socket Mode or HTTP on :3000).
# Secrets (SLACK_*, AWS credentials) come from the runtime environment or the platform's secret
# store, never from this file or the image.

# Tag for people, digest for the builder: the tag alone can move to a rebuilt image.
ARG PYTHON_IMAGE=python:3.12.12-slim-bookworm@sha256:593bd06efe90efa80dc4eee3948be7c0fde4134606dd40d8dd8dbcade98e669c

# --- build: the locked runtime dependencies, then the package, into a self-contained venv ------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# The dependencies first, exactly as locked (versions and hashes): this layer is rebuilt only
# when the lock file changes, not on every code edit. No extras: tests, moto and linters stay out.
COPY requirements/runtime.txt ./requirements/runtime.txt
RUN pip install --no-cache-dir --require-hashes -r requirements/runtime.txt
# Then the package alone (README.md is its readme metadata). .dockerignore leaves bot/sandbox
# (the demo's and tests' stand-ins) out of the context, so the image cannot run them.
COPY pyproject.toml README.md LICENSE ./
COPY bot ./bot
COPY handlers ./handlers
RUN pip install --no-cache-dir --no-deps .

# --- runtime ------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}

LABEL org.opencontainers.image.title="bedrock-key-revoker" \
      org.opencontainers.image.description="Slack bot that revokes leaked Amazon Bedrock API keys through IAM, with a second approver" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed UID/GID so volume ownership and runAsUser policies (Kubernetes, ECS) can name it.
RUN groupadd --system --gid 10001 revoker \
    && useradd --system --uid 10001 --gid revoker --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin revoker \
    && mkdir -p /data \
    && chown revoker:revoker /data

COPY --from=build /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    REVOKER_DATABASE_URL=sqlite:////data/bedrock-revoker.db

# The SQLite request store lives here; mount a volume so pending requests survive a restart.
VOLUME ["/data"]
# Root-owned and empty: nothing the process can write, and no stray `.env` gets picked up.
WORKDIR /app
USER 10001:10001

EXPOSE 3000

# GET /healthz must answer 2xx, in both modes: Socket Mode serves it too, and answers 503 while
# its websocket to Slack is down. Python, because slim has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; r.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('REVOKER_PORT', '3000'), timeout=4).close()"]

ENTRYPOINT ["bedrock-revoker"]
CMD ["serve"]
