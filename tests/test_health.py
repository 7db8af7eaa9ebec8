"""/healthz: what a load balancer and the process supervisor ask before sending traffic."""

import os
import time

import pytest
from django.db import OperationalError, connection
from django.urls import reverse

pytestmark = pytest.mark.django_db

REDIS = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
# Nothing listens on port 1 of the loopback: connecting is refused at once.
CLOSED_PORT = "redis://127.0.0.1:1/0"


def _redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture
def file_broker(settings, tmp_path):
    settings.REDIS_URL = ""
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path)}
    return tmp_path


def _health(client):
    response = client.get(reverse("healthz"))
    return response.status_code, response.json()


def test_healthy_with_the_file_broker_and_no_login_needed(client, file_broker):
    assert _health(client) == (200, {"database": "ok", "broker": "ok"})
    assert list(file_broker.iterdir()) == []  # the probe file is gone again


@pytest.mark.redis
def test_healthy_with_redis(client, settings):
    if not _redis_reachable():
        pytest.skip(f"no Redis at {REDIS}")
    settings.REDIS_URL = REDIS
    assert _health(client) == (200, {"database": "ok", "broker": "ok"})


def test_redis_down_keeps_the_process_in_service_names_the_broker_and_answers_quickly(client, settings):
    # Pages serve and changes save without Redis: the load balancer must keep sending traffic.
    settings.REDIS_URL = CLOSED_PORT
    started = time.monotonic()
    assert _health(client) == (200, {"database": "ok", "broker": "fail"})
    assert time.monotonic() - started < 3


def test_monitoring_that_requires_the_broker_gets_503_when_redis_is_down(client, settings):
    settings.REDIS_URL = CLOSED_PORT
    response = client.get(reverse("healthz"), {"require": "broker"})
    assert (response.status_code, response.json()) == (503, {"database": "ok", "broker": "fail"})


def test_an_unwritable_queue_folder_is_a_broker_failure(client, file_broker, settings):
    missing = str(file_broker / "gone")
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": missing, "data_folder_out": missing}
    assert _health(client) == (200, {"database": "ok", "broker": "fail"})
    response = client.get(reverse("healthz"), {"require": "broker"})
    assert response.status_code == 503


def test_a_database_failure_is_503_and_says_nothing_more(client, file_broker, monkeypatch):
    def refused(*args, **kwargs):
        raise OperationalError('connection to server at "db.internal", port 5432 failed: password authentication')

    monkeypatch.setattr(connection, "cursor", refused)
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json() == {"database": "fail", "broker": "ok"}
    # The reason is for the log, not for whoever asked.
    assert b"db.internal" not in response.content and b"password" not in response.content


def test_the_answer_is_never_cached_and_only_read(client, file_broker):
    response = client.get(reverse("healthz"))
    assert "no-cache" in response["Cache-Control"] and "no-store" in response["Cache-Control"]
    assert client.head(reverse("healthz")).status_code == 200
    assert client.post(reverse("healthz")).status_code == 405
