# syntax=docker/dockerfile:1
# Multi-stage: build wheels and generated gRPC code, then a slim non-root runtime.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements.lock ./
# Every dependency pinned and verified by hash.
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --require-hashes --no-deps -r requirements.lock
COPY . .
RUN /opt/venv/bin/python -m grpc_tools.protoc -Iprotos --python_out=. --pyi_out=. --grpc_python_out=. \
      protos/aiproxy/v1/proxy.proto \
 && DJANGO_SETTINGS_MODULE=aiproxy.settings /opt/venv/bin/python manage.py collectstatic --noinput -v0

FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    HTTP_PORT=8080 PORT=8087 METRICS_PORT=9090 \
    DEBUG=0
RUN useradd --system --uid 10001 --home /app aiproxy
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=aiproxy:aiproxy /src /app
WORKDIR /app
RUN mkdir -p /app/data && chown aiproxy:aiproxy /app/data
USER aiproxy
EXPOSE 8080 8087 9090
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import os,urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/v1/health' % os.environ.get('HTTP_PORT','8080'), timeout=2)" || exit 1
# Migrations run once per deploy (compose's `migrate` service), not in every replica.
CMD ["python", "manage.py", "serve"]
