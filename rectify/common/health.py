"""/healthz: may this process take traffic? For load balancers and the process supervisor.

It checks the database, which every request needs, and the broker that carries the
recompute job (Redis when REDIS_URL is set, else the file-system queue folder). No login,
so a probe needs no credentials; the answer says only "ok" or "fail" per part, and the
reason goes to the log, not to whoever asked.

Only a database failure answers 503. With the broker down, pages still serve and changes
still save (the dashboards say their figures may be stale): taking every web process out
of the load balancer then would turn a late recompute into an outage. The body still says
"broker": "fail", and monitoring that should page someone for it asks
`/healthz?require=broker`, which answers 503 for a failed broker too.
"""

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)

# A probe runs every few seconds; a hung Redis must fail it quickly, not hold a worker.
BROKER_TIMEOUT_SECONDS = 1.0


def database_ok() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def broker_ok() -> None:
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(
            settings.REDIS_URL,
            socket_connect_timeout=BROKER_TIMEOUT_SECONDS,
            socket_timeout=BROKER_TIMEOUT_SECONDS,
        )
        try:
            if not client.ping():
                raise ConnectionError("Redis did not answer PING")
        finally:
            client.close()
        return
    # The file-system broker (development, single machine): a task is a file in this folder.
    folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".healthz-"):
        pass


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    results = {}
    checks: tuple[tuple[str, Callable[[], None]], ...] = (("database", database_ok), ("broker", broker_ok))
    for name, check in checks:
        try:
            check()
        except Exception:  # any failure means "do not send traffic here"; the log has why
            logger.warning("Health check %s failed", name, exc_info=True)
            results[name] = "fail"
        else:
            results[name] = "ok"
    required = {"database", *request.GET.getlist("require")}
    healthy = all(value == "ok" for name, value in results.items() if name in required)
    return JsonResponse(results, status=200 if healthy else 503)
