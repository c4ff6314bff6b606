# The rancher-deploy image: a GitHub Docker action, a GitLab job image, a Drone/Woodpecker plugin.
#
# GitHub runs it with `docker run --workdir /github/workspace` as root, without an init process,
# and gives only absolute paths a meaning (docs: "Dockerfile support for GitHub Actions"); so no
# USER, no WORKDIR the program relies on, and an exec-form ENTRYPOINT with no shell in it, which
# would drop the INPUT_ACCESS-KEY style variables GitHub sets. tini is PID 1 and Python its child
# (below, and docs/ci.md "A cancelled or timed-out job"). Other CIs may run it as any uid: nothing
# here writes outside the working directory (PYTHONDONTWRITEBYTECODE, no cache).

# The official Python image, pinned by tag and by the digest of its multi-platform index (the digest
# that docker-library/repo-info records for python:3.12.13-slim-trixie in
# repos/python/remote/3.12.13-slim-trixie.md, commit 2986dca3a80c), so a rebuild of a release gets
# the same base. A build argument so that .ci/image can build this file unchanged on a stand-in
# base made from Debian packages (no registry is reachable there).
ARG BASE_IMAGE=python:3.12.13-slim-trixie@sha256:229a2c5bfa27522db7815ea81f9bed70af17ccb9de9fc7ad142b1877b5830d36

# Stage 1: build the wheel of the package; setuptools and the sources stay behind.
FROM ${BASE_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY rancher_deploy ./rancher_deploy
COPY scripts ./scripts
RUN python -m pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# Stage 2: the image itself.
FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="rancher-deploy" \
      org.opencontainers.image.description="Upgrade a Rancher service to a new image from CI, wait until it is healthy, roll back when it is not" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="MIT"
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# tini, Debian's package, as PID 1: GitHub, Drone and Woodpecker run the image with no init, and a
# PID 1 that has no handler for a signal never gets it (the kernel drops it). Python as PID 1 lost a
# SIGTERM sent during its own start-up, before entrypoint.py's first line sets handlers (20-60 ms), and
# the upgrade then ran to its end. tini blocks every signal among its first instructions, starts Python
# as its child and forwards each signal to it alone (no -g: Python starts no processes); a signal before
# Python's handlers exist ends it by the default action before any request (exit 143 / 130), and tini
# exits with its child's code, or 128 + the signal's number (krallin/tini src/tini.c, reap_zombies).
# tini rather than dumb-init: Docker's own `--init` is tini, so the image behaves the same with it.
# The pin is python:3.12.13-slim-trixie's Debian (trixie, amd64 and arm64 alike); .ci/image builds on
# a bookworm stand-in and passes bookworm's version. `apt-get clean` for a base without docker-clean.
ARG TINI_VERSION=0.19.0-3+b8
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "tini=${TINI_VERSION}" \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*
COPY requirements/runtime.txt requirements/serve.txt requirements/poll.txt /tmp/
# serve.txt: the `serve` extra (its HTTP server), for `rancher-deploy serve`; a CI run never loads it.
# poll.txt: registry polling's client (`--poll`, and the server's polling), docs/fleet.md "Registry polling".
RUN python -m pip install --no-cache-dir --requirement /tmp/runtime.txt --requirement /tmp/serve.txt \
        --requirement /tmp/poll.txt \
    && rm /tmp/runtime.txt /tmp/serve.txt /tmp/poll.txt
# --no-deps: the pinned requirements above are the dependencies; this adds the package and the
# `rancher-deploy` command that GitLab jobs call (they replace the entrypoint with a shell): the
# plain script scripts/rancher-deploy, which pip points at this interpreter.
COPY --from=build /wheels /tmp/wheels
RUN python -m pip install --no-cache-dir --no-deps /tmp/wheels/*.whl \
    && rm -r /tmp/wheels
COPY entrypoint.py /app/entrypoint.py
# `rancher-deploy serve` (docs/fleet.md, "The server"): run the image with the argument `serve`; it
# listens on RANCHER_SERVE_PORT (AUTOUPDATE_HTTP_PORT), 8080 by default, on every address, and needs
# RANCHER_SERVE_TOKEN or RANCHER_SERVE_HMAC_SECRET besides the Rancher URL and keys. Its health check
# is GET /healthz (no credentials; its port closes once the server stops) on that port: docs/fleet.md
# ("Running it") has a Compose health check that reads the variable rather than assume 8080.
# No HEALTHCHECK here: the same image runs CI steps, which serve nothing. Give a stop at least
# RANCHER_SERVE_GRACE (300 s) plus a rollback's time before the kill (docker stop -t, stop_grace_period,
# terminationGracePeriodSeconds).
EXPOSE 8080
ENTRYPOINT ["tini", "--", "python", "/app/entrypoint.py"]
