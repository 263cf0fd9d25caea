# IMP Lab for a shared GPU server: the app and one worker per visible GPU in one container.
# torch from PyPI is CUDA-capable on x86_64 (it brings its CUDA libraries); the host needs only
# the NVIDIA driver and the container toolkit. See README, "Hosting with Docker".
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    IMP_LAB_HOSTED=1 \
    IMP_LAB_STORE=/store \
    IMP_LAB_DATA=/data

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY engine/ engine/
COPY app/ app/
COPY docker/entrypoint.sh docker/entrypoint.sh
COPY lab.py pyproject.toml ./

RUN useradd --create-home --uid 1000 lab \
    && mkdir -p /store /data \
    && chown lab:lab /store /data
USER lab
VOLUME ["/store", "/data"]

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://localhost:8501/_stcore/health', timeout=4)"]

ENTRYPOINT ["docker/entrypoint.sh"]
