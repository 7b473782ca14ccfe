# polyad in a container. Build: `docker build -t polyad .`; the whole stack: docker-compose.yml.
# Run as is, the agent reports its container. To report the host, mount the host's /proc and
# /sys read-only (e.g. at /host/proc and /host/sys) and point POLYAD_HOST__PROCFS and
# POLYAD_HOST__SYSFS at them, as docker-compose.yml does.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# Only what installing the package reads (pyproject.toml names README.md as its readme, and
# installs the alert rules of alerts/ as polyad.alerts.shipped).
COPY pyproject.toml README.md /src/
COPY polyad /src/polyad
COPY alerts /src/alerts
# `--build-arg EXTRAS=pubkey` adds what RS*/ES*/PS* tokens need (auth.public_key, jwks_url).
ARG EXTRAS=""
RUN pip install "/src${EXTRAS:+[$EXTRAS]}" && rm -rf /src

# A fixed unprivileged user. Its state dir keeps the signing secret (auth.secret, 0600);
# /run/polyad is where the compose stack's init step writes Prometheus' token.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/polyad \
        --shell /usr/sbin/nologin polyad \
    && install -d -o polyad -g polyad -m 0700 /var/lib/polyad \
    && install -d -o polyad -g polyad -m 0755 /run/polyad
USER polyad
WORKDIR /var/lib/polyad

# Auth stays on (every endpoint but /healthz, /readyz and /openapi.json needs a token), so the
# agent may listen on every address of the container.
ENV POLYAD_STATE_DIR=/var/lib/polyad \
    POLYAD_SERVER__HOST=0.0.0.0 \
    POLYAD_SERVER__PORT=5000
EXPOSE 5000

HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('POLYAD_SERVER__PORT', '5000') + '/healthz', timeout=3)"]

ENTRYPOINT ["polyad"]
CMD ["serve"]
