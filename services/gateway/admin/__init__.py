"""The admin web pages: server-rendered HTML behind the login form, no build step."""

from services.gateway.admin import pages as _pages  # noqa: F401  (registers the pages)
from services.gateway.admin.views import admin

__all__ = ["admin"]
