"""Celery tasks: thin wrappers that call one service each (the beat schedule is in rectify/celery.py).

Results are not stored: the beat does not read them, the figures land in the database,
and subscribing to a result backend is one more thing that can hang when Redis is down.
"""

import contextlib
import logging

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from dashboards.breakdowns import warm_bureau_breakdowns
from dashboards.reminders import reminders_send
from dashboards.services import figures_recompute

logger = logging.getLogger(__name__)

# Set while a triggered recompute waits in the queue; changes committed meanwhile add nothing.
RECOMPUTE_QUEUED_KEY = "dashboards:recompute-queued"


def recompute_figures_soon() -> bool:
    """Queue one recompute unless one is already waiting; True when this call queued it.

    cache.add is the debounce: only the first change of a batch gets to add the key. The
    key outlives the countdown by a margin so that a lost task cannot block triggers for
    ever; the beat tick catches up meanwhile.
    """
    countdown = settings.RECOMPUTE_DEBOUNCE_SECONDS
    try:
        if not cache.add(RECOMPUTE_QUEUED_KEY, True, timeout=countdown + 300):
            return False
        # retry=False: fail at once rather than hold the user's request while kombu retries.
        recompute_figures.apply_async(kwargs={"triggered": True}, countdown=countdown, retry=False)
    except Exception as exc:  # whatever the cache's or the broker's client raises
        # We run after the change committed, inside the user's request: a cache or broker
        # that is down must not turn a saved change into an error page. The next beat tick
        # recomputes anyway.
        logger.warning("Recompute not queued (%s); the next beat tick will catch up.", exc)
        # Else later changes would trust a queued run that does not exist.
        with contextlib.suppress(Exception):
            cache.delete(RECOMPUTE_QUEUED_KEY)
        return False
    return True


@shared_task(bind=True, ignore_result=True, max_retries=5)
def recompute_figures(self, triggered: bool = False) -> dict[str, object]:
    # Cleared before the run, not after: a change committed while we compute must queue
    # another run, since this one may already have read past it.
    cache.delete(RECOMPUTE_QUEUED_KEY)
    result = figures_recompute()
    if not result.skipped:
        warm_dashboard()
    if result.skipped and triggered:
        # Another run held the lock and may have started before the change that triggered
        # us; try again shortly rather than wait for the next beat tick.
        raise self.retry(countdown=max(settings.RECOMPUTE_DEBOUNCE_SECONDS, 5))
    return result.as_dict()


def warm_dashboard() -> None:
    """Render the new figures' dashboard into the cache, so no leader waits for it."""
    try:
        warm_bureau_breakdowns(timezone.localdate())
    except Exception:  # the figures are written; a page renders them itself if this fails
        logger.exception("Dashboard not pre-rendered after the recompute.")


@shared_task(ignore_result=True)
def send_daily_reminders() -> dict[str, int]:
    return reminders_send().as_dict()
