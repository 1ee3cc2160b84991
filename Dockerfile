# One image per service from this one file:
#   docker build --build-arg SERVICE=intake -t kpr-gateway-intake .
# SERVICE is one of intake, transform, envelope, dispatch, receipts, webhooks, simulator (the
# folders in services/). The image runs `python -m kpr_gateway.<SERVICE>` as user 10001;
# settings come from KPRGW_<SERVICE>_* variables (the Helm chart in charts/kpr-gateway sets them).
#
# BuildKit (docker's builder since 23.0, and buildx) is needed for the cache mounts below; its
# built-in Dockerfile frontend reads them, so no `# syntax=` line pulls a frontend image.
#
# The base image is an argument: pin it by digest for a build that cannot change under you,
#   --build-arg PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:<digest>
# (docs/operations.md, "Images"). The OCI labels come from build arguments too:
#   --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" \
#   --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" --build-arg SOURCE=<repository URL>

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# Only the project files uv resolves from (every workspace member's pyproject.toml and
# uv.lock): the dependency layer below is rebuilt when they change, not on every code edit.
FROM ${PYTHON_IMAGE} AS manifests
WORKDIR /src
COPY . .
RUN find . -type f ! -name pyproject.toml ! -name uv.lock -delete \
    && find . -type d -empty -delete

FROM ${PYTHON_IMAGE} AS build
ARG SERVICE
ARG UV_VERSION=0.13.9
RUN test -n "${SERVICE}" \
    || { echo "build with --build-arg SERVICE=<a folder of services/>" >&2; exit 1; }
# python-qpid-proton (the AMQP 1.0 client) builds from source, against OpenSSL for amqps://.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends build-essential pkg-config libssl-dev \
    && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
COPY --from=manifests /src/ ./
RUN test -f "services/${SERVICE}/pyproject.toml" \
    || { echo "no service '${SERVICE}' in services/" >&2; exit 1; }
# Third-party dependencies only, exactly as uv.lock pins them.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-install-workspace --package "kpr-gateway-${SERVICE}"
# Then the service and the workspace libraries it uses, installed as wheels (not editable),
# so the runtime stage needs the virtual environment only.
COPY . .
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable --package "kpr-gateway-${SERVICE}"

# The runtime: the same Python, the virtual environment, no compiler, no pip, no sources.
FROM ${PYTHON_IMAGE} AS runtime
ARG SERVICE
ARG PYTHON_IMAGE
RUN python -m pip uninstall --yes --quiet pip setuptools wheel \
    && groupadd --system --gid 10001 kprgw \
    && useradd --system --uid 10001 --gid kprgw --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin kprgw
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    KPRGW_SERVICE=${SERVICE}
USER 10001:10001
WORKDIR /app
# 8080: the service's own HTTP app (intake's API); 9090: health, status and metrics.
EXPOSE 8080 9090
# Last, so that a new revision or build time changes only this layer's metadata.
ARG SOURCE=""
ARG REVISION=""
ARG VERSION=""
ARG CREATED=""
LABEL org.opencontainers.image.title="kpr-gateway-${SERVICE}" \
      org.opencontainers.image.description="KPR Gateway: the ${SERVICE} service" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"
# exec: Python is PID 1 and gets SIGTERM itself, so the service drains before it stops.
ENTRYPOINT ["/bin/sh", "-c", "exec python -m \"kpr_gateway.${KPRGW_SERVICE}\" \"$@\"", "kprgw"]
