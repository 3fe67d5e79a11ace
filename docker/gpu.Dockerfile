# GPU worker image: CUDA build of the same torch version as the lock; runs `celery -Q gpu -c 1`.
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 DEBIAN_FRONTEND=noninteractive \
    DJANGO_SETTINGS_MODULE=config.settings.production LOOP_DATA_DIR=/data
RUN apt-get update && apt-get install -y --no-install-recommends python3.11 python3.11-venv python3-pip \
    && rm -rf /var/lib/apt/lists/* && python3.11 -m venv /venv \
    && useradd --create-home --uid 10001 app && mkdir -p /data && chown app /data
ENV PATH=/venv/bin:$PATH
WORKDIR /app
COPY . .
RUN pip install --extra-index-url https://download.pytorch.org/whl/cu128 -c requirements/lock.txt '.[ml]'
USER app
CMD ["celery", "-A", "config", "worker", "-Q", "gpu", "-c", "1", "--prefetch-multiplier", "1", "--loglevel", "INFO"]
