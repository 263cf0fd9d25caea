# IMP Lab for a shared GPU server: the app and one worker per visible GPU in one container.
# Build arguments (README, "Hosting with Docker"):
#   BASE   the base image: python:3.11-slim, or any Debian-based image with bash (one without
#          python3 gets Debian's python3 and python3-venv; older than 3.11 is refused)
#   TORCH  cuda (default): PyPI's torch, CUDA-capable on x86_64 (it brings its CUDA libraries;
#          the host needs only the NVIDIA driver and the container toolkit);
#          cpu: torch's CPU wheels from TORCH_CPU_INDEX, for a server without GPUs
ARG BASE=python:3.11-slim
FROM ${BASE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    IMP_LAB_HOSTED=1 \
    IMP_LAB_STORE=/store \
    IMP_LAB_DATA=/data

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# The base's own Debian release decides python3's version, so it is not pinned here.
# hadolint ignore=DL3008
RUN if ! command -v python3 >/dev/null; then \
        apt-get update \
        && apt-get install -y --no-install-recommends python3 python3-venv \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && python3 -c 'import sys; sys.exit(sys.version_info < (3, 11) and f"BASE has Python {sys.version.split()[0]}; IMP Lab needs 3.11 or newer")' \
    && python3 -m venv "$VIRTUAL_ENV" \
    && useradd --create-home --uid 1000 --user-group lab \
    && mkdir -p /store /data \
    && chown 1000:1000 /store /data

WORKDIR /app
COPY requirements.txt .
# Declared here, after the steps above, so that changing them rebuilds only what follows.
ARG TORCH=cuda
ARG TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu
# pip's own settings for the installs below, e.g. a mirror (PIP_INDEX_URL) or a wheelhouse the
# build host serves (PIP_FIND_LINKS, PIP_NO_INDEX=1, with `docker build --network host`);
# unset, pip uses PyPI.
ARG PIP_INDEX_URL
ARG PIP_FIND_LINKS
ARG PIP_NO_INDEX
# For TORCH=cpu, torch and torchvision (at requirements.txt's pins) come from the CPU index
# first; the second install then finds them satisfied.
RUN case "$TORCH" in \
        cuda) ;; \
        cpu) grep -E '^torch(vision)?==' requirements.txt \
            | pip install --index-url "$TORCH_CPU_INDEX" -r /dev/stdin ;; \
        *) echo "TORCH=$TORCH: use cuda or cpu" >&2; exit 2 ;; \
    esac \
    && pip install -r requirements.txt

COPY .streamlit/ .streamlit/
COPY engine/ engine/
COPY app/ app/
COPY docker/ docker/
COPY lab.py pyproject.toml ./

USER 1000:1000
VOLUME ["/store", "/data"]

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "docker/healthcheck.py"]

ENTRYPOINT ["docker/entrypoint.sh"]
