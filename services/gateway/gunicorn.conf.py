"""gunicorn settings for the gateway; the bind address comes from the tipbench settings."""

from shared.settings import Settings

_settings = Settings()

bind = f"{_settings.gateway_host}:{_settings.gateway_port}"
worker_class = "gthread"
workers = 2
threads = 4
timeout = 60
graceful_timeout = 20
accesslog = None
errorlog = "-"
# gunicorn's control socket has one default path per user: two stacks on one machine
# would fight over it, and nothing here uses it.
control_socket_disable = True
