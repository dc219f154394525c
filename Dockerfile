# The podpilot operator image. Build it from the repository root:
#
#   docker build -t <registry>/podpilot:0.1.0 .
#   helm install podpilot helm/podpilot --set image.repository=<registry>/podpilot
#
# Two stages: the builder makes the wheel (and wheels of every dependency); the final stage
# only installs those wheels, so it carries no compiler, no pip cache and no source tree.
# This file has not been built in the project's own environment, which has no Docker engine;
# the dev cluster builds its image differently (see docs/helm.md).
#
# The base is pinned to an exact Python patch release on Debian bookworm. For reproducible
# builds, also pin its digest: python:3.11.11-slim-bookworm@sha256:<digest from your registry>.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
# Wheels for podpilot and all its dependencies; those with compiled parts (google-re2, PyYAML,
# aiohttp) ship binary wheels, so no compiler is needed here either.
RUN pip wheel --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# The wheels are mounted from the builder for the install only, so they never land in a layer.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels podpilot \
    && pip uninstall --yes pip setuptools wheel 2>/dev/null || true
# A fixed numeric non-root user, matching the chart's runAsUser/runAsGroup (10001), so that
# runAsNonRoot can be verified by the kubelet.
RUN groupadd --system --gid 10001 podpilot \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin podpilot
USER 10001:10001
# The root file system is mounted read-only by the chart; Python only writes to /tmp.
WORKDIR /tmp
EXPOSE 8080 9808
ENTRYPOINT ["podpilot"]
CMD ["run"]
