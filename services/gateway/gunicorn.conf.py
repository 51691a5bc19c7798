"""gunicorn settings for the gateway; the bind address comes from the tipbench settings."""

from shared.settings import Settings

_settings = Settings()  # type: ignore[call-arg]

bind = f"{_settings.gateway_host}:{_settings.gateway_port}"
worker_class = "gthread"
workers = 2
threads = 4
timeout = 60
graceful_timeout = 20
accesslog = None
errorlog = "-"
