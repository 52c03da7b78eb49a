# opsbot in a container: the bot (Socket Mode or HTTP), its HTTP server for the Stripe
# webhook, the web API and /healthz, and the schedule, on the embedded SQLite ledger kept
# in /data (a volume). compose.yaml runs it; README.md, "Running it for real", explains.
#
# The base image is pinned to an exact Python release. To pin its digest as well, look
# it up where you build (docker buildx imagetools inspect python:3.11.14-slim-bookworm)
# and write FROM python:3.11.14-slim-bookworm@sha256:<digest>.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# The dependencies first, in their own layer: a code change does not reinstall them.
COPY requirements.txt ./
RUN python -m venv /opt/opsbot && /opt/opsbot/bin/pip install -r requirements.txt
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY blocks ./blocks
COPY handlers ./handlers
COPY infra ./infra
RUN /opt/opsbot/bin/pip install --no-deps .

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/opsbot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    OPSBOT_STORE=sqlite:////data/opsbot.db \
    OPSBOT_EVENTS_FILE=/app/events.json
# A user of its own, no login, no home to write in; /data (the ledger) is the one place it writes.
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin opsbot \
    && mkdir /data && chown opsbot:opsbot /data && chmod 0700 /data
COPY --from=build /opt/opsbot /opt/opsbot
WORKDIR /app
# The crew's files as in the repository; compose.yaml mounts the real ones over them.
COPY events.json manifest.json ./
COPY sites ./sites
USER opsbot
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/healthz', timeout=4)"]
ENTRYPOINT ["opsbot"]
CMD ["run", "--host", "0.0.0.0", "--port", "3000"]
