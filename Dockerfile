# One image for the gateway and the three workers; each service picks its command in compose.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY tipbench ./tipbench
# Services need only the MLflow client (mlflow-skinny) and the Ollama client.
RUN pip install .
USER nobody
