# The gateway's image: one image, three commands (the Procfile's release, web and worker).
# compose.yaml runs it with PostgreSQL and Redis; docs/deploy.md says how.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GATEWAY_DATA_DIR=/var/lib/gateway \
    PATH=/app/.venv/bin:$PATH

RUN useradd --system --home-dir /app --shell /usr/sbin/nologin gateway \
    && mkdir -p /var/lib/gateway && chown gateway:gateway /var/lib/gateway && chmod 0700 /var/lib/gateway

WORKDIR /app
# The pinned dependencies first, so a code change does not reinstall them.
COPY requirements.lock ./
RUN python -m venv /app/.venv && /app/.venv/bin/pip install -r requirements.lock
COPY pyproject.toml README.md babel.cfg desk.cfg Procfile ./
COPY gateway gateway
COPY workers workers
COPY flows flows
COPY locales locales
RUN /app/.venv/bin/pip install --no-deps -e . && /app/.venv/bin/gateway flows check

USER gateway
VOLUME ["/var/lib/gateway"]
EXPOSE 5000
# The web process; compose.yaml gives the worker and the release step their own command.
CMD ["gunicorn", "-c", "python:gateway.web.gunicorn_conf", "gateway:create_app()"]
