"""Deploy checks (`manage.py check --deploy`) for what settings.py cannot refuse by itself.

Without DATABASE_URL and REDIS_URL the settings fall back to SQLite under var/ and a file
broker and cache: right for a laptop's `make demo`, wrong for production, where several web
and worker processes on several machines must share one database, one broker and one cache.
The fallback stays silent in development; with DEBUG off these checks say what is missing.
"""

from django.conf import settings
from django.core.checks import Warning, register


@register(deploy=True)
def shared_state_check(app_configs: object = None, **kwargs: object) -> list[Warning]:
    if settings.DEBUG:
        return []
    warnings = []
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        warnings.append(
            Warning(
                "The database is a SQLite file on this machine.",
                hint="Set DATABASE_URL to the PostgreSQL database every web and worker process shares.",
                id="rectify.W001",
            )
        )
    if not settings.REDIS_URL:
        warnings.append(
            Warning(
                "REDIS_URL is not set: the Celery broker and the cache are folders on this machine.",
                hint="Set REDIS_URL to the Redis server every web and worker process shares.",
                id="rectify.W002",
            )
        )
    return warnings
