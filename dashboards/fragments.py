"""Rendered parts of the whole-bureau dashboard, kept in the shared cache until the figures
they show change.

The breakdowns, charts and trend of /dashboard/ for the whole bureau come from the Figure
and DailySnapshot rows alone, which change only when the recompute job runs, and every run
stamps every figure with a new computed_at. So a fragment rendered from them, kept per
page variant and language, stays right as long as the headline's computed_at and the day
are those it was rendered from; building it was most of the page's time at a million measures
(the queries for some hundred breakdown rows, their links, cells and charts).

What the figures do not hold is the names: an inspection renamed, a category moved or a
leader's title changed show on the page with no recompute. Those saves replace the names
version (a random token in the cache, set after their commit), and a fragment is served
only with the token it was rendered under. The token is read before the database is, so a
rename committed meanwhile can only make a fresh fragment look stale, never the reverse.

The cache is shared by every web process (Redis in production: see the deploy checks), and
losing it costs only speed: when it is unreachable the page renders everything itself.
A rename made while the cache is unreachable shows at the next recompute, which every
change and the beat tick bring within minutes; so do the inspections and categories an
import creates in bulk (no save signals), with the recompute its new measures queue.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable

from django.core.cache import cache
from django.utils.safestring import SafeString, mark_safe

logger = logging.getLogger(__name__)

NAMES_VERSION_KEY = "dashboards:names-version"
FRAGMENT_KEY_PREFIX = "dashboards:fragment"
# Each new rendering replaces the last under the same key, so the cache holds one fragment
# per page variant (and language) whatever the number of recomputes; this only bounds how
# long a variant nobody opens any more is kept.
FRAGMENT_TIMEOUT_SECONDS = 3600


def fragment_key(parts: Iterable[object]) -> str:
    return ":".join([FRAGMENT_KEY_PREFIX, *(str(p) for p in parts)])


def cached_fragment(parts: Iterable[object], render: Callable[[], str], *, rendered_from: tuple) -> SafeString:
    """The HTML `render` returns, from the cache when the page variant named by `parts` was
    last rendered from the same data (`rendered_from`: the figures' computed_at, the day)
    under the current names version. `render` must depend on nothing but these."""
    key = fragment_key(parts)
    try:
        found = cache.get_many([NAMES_VERSION_KEY, key])
    except Exception as exc:  # whatever the cache's client raises when its server is down
        logger.warning("Dashboard cache unreachable (%s); rendering without it.", exc)
        return mark_safe(render())  # noqa: S308 (render returns template output)
    stamp = (found.get(NAMES_VERSION_KEY), *rendered_from)
    cached = found.get(key)
    if cached is not None and cached[0] == stamp:
        return mark_safe(cached[1])  # noqa: S308 (stored from template output below)
    html = str(render())
    try:
        cache.set(key, (stamp, html), timeout=FRAGMENT_TIMEOUT_SECONDS)
    except Exception as exc:
        logger.warning("Dashboard fragment not cached (%s).", exc)
    return mark_safe(html)  # noqa: S308 (template output)


def names_changed() -> None:
    """Retire every cached fragment: a name they show has changed. Call after the commit."""
    try:
        cache.set(NAMES_VERSION_KEY, uuid.uuid4().hex, timeout=None)
    except Exception as exc:
        logger.warning("Dashboard names version not updated (%s); the next recompute refreshes the page.", exc)
