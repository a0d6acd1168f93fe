# CPU-only image of rnn-forecast: the API, the command line and the workers.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app

# g++ builds the fused GRU training layer on first use (models/nn/fused_gru.py)
# and the inference kernel when the server starts (models/nn/infer_kernel.py)
RUN apt-get update \
    && apt-get install -y --no-install-recommends g++ \
    && rm -rf /var/lib/apt/lists/*

# the CPU build of torch first, so the project's pin does not pull CUDA wheels
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

COPY pyproject.toml README.md ./
COPY models ./models
COPY service ./service
# psycopg lets RNN_FORECAST_JOB_STORE point at PostgreSQL
RUN pip install '.[postgres]'

ENV RNN_FORECAST_REGISTRY=/data/registry \
    RNN_FORECAST_DATA_DIR=/data/var \
    RNN_FORECAST_CACHE_DIR=/data/cache

EXPOSE 8000
CMD ["rnn-forecast", "serve", "--host", "0.0.0.0", "--port", "8000"]
