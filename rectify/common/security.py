"""Security wiring that Django does not ship: the Content-Security-Policy header, the login
throttle's backend (with its limit per address) and the client address it counts failures by.

The policy allows this site's own origin and nothing else: a bureau's intranet reaches no
CDN, and an injected tag must not be able to load or send anything elsewhere. Every page's
JavaScript is in static/js/ (no inline <script>, no onchange=); inline style attributes
stay allowed because templates and the SVG charts use them and they cannot run code.
"""

from collections.abc import Callable
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.exceptions import AxesBackendPermissionDenied
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "img-src": "'self' data:",
    "style-src": "'self' 'unsafe-inline'",
    "script-src": "'self'",
    "object-src": "'none'",
    "frame-ancestors": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
}

# The API docs page needs no exception: rectify/api_urls.py serves it with drf-spectacular's
# SpectacularSwaggerSplitView, whose start-up script is a URL of its own (?script=), not
# inline. (The plain SpectacularSwaggerView would need 'unsafe-inline'; do not switch back.)
STRICT_POLICY = "; ".join(f"{name} {value}" for name, value in CONTENT_SECURITY_POLICY.items())


class ContentSecurityPolicyMiddleware:
    """Sets Content-Security-Policy on every response that does not already have one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", STRICT_POLICY)
        return response


class LoginThrottleBackend(AxesStandaloneBackend):
    """django-axes' standalone backend, except for authenticate() calls without a request.

    Those come from code (a management command, the test client's login()), never from a
    login form or the API, so there is no client to count failures for; axes itself would
    refuse them with an exception. Every HTTP login passes its request and is throttled.
    """

    def authenticate(self, request: HttpRequest | None, *args: Any, **kwargs: Any) -> None:
        if request is None:
            return None
        if address_failures(client_ip(request)) >= settings.LOGIN_ADDRESS_FAILURE_LIMIT:
            # As axes does for a locked pair: the middleware turns the flag into the lockout
            # page, which reads the second flag to say it is this address that is locked.
            request.axes_locked_out = True  # type: ignore[attr-defined]
            request.login_address_locked = True  # type: ignore[attr-defined]
            raise AxesBackendPermissionDenied("Too many failed logins from this address.")
        return super().authenticate(request, *args, **kwargs)


def address_failures(address: str) -> int:
    """Failed logins from this address within the cool-off, summed over every username.

    django-axes counts per (username, address) pair only; one address trying a few
    passwords on each of many accounts would never reach its limit. Its own records hold
    the counts: one row per username, user agent and address, expired after the cool-off.
    """
    since = timezone.now() - settings.AXES_COOLOFF_TIME
    failures = AccessAttempt.objects.filter(ip_address=address, attempt_time__gte=since).aggregate(
        n=Sum("failures_since_start")
    )["n"]
    return failures or 0


def client_ip(request: HttpRequest) -> str:
    """The address failed logins are counted by.

    Behind NUM_PROXIES reverse proxies (nginx in front of gunicorn) REMOTE_ADDR is the last
    proxy; the client is the entry that the outermost proxy appended to X-Forwarded-For.
    Entries further left were written by the client and could be forged, so they are never
    read. Without proxies (the default) REMOTE_ADDR is the client.
    """
    proxies = settings.NUM_PROXIES
    if proxies > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR", "")
