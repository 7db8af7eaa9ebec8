import contextlib

import pytest
from django.utils import translation

from accounts.models import Role
from tests.factories import DepartmentFactory, make_user


@pytest.fixture
def department(db):
    return DepartmentFactory(name="社会救助科")


@pytest.fixture
def other_department(db):
    return DepartmentFactory(name="养老服务科")


@pytest.fixture
def office_user(db):
    return make_user(Role.OFFICE, username="t_office")


@pytest.fixture
def staff_user(department):
    return make_user(Role.STAFF, department, username="t_staff")


@pytest.fixture
def other_staff_user(other_department):
    return make_user(Role.STAFF, other_department, username="t_other_staff")


@pytest.fixture
def leader_user(db):
    return make_user(Role.LEADERSHIP, username="t_leader")


@pytest.fixture
def auditor_user(db):
    return make_user(Role.AUDITOR, username="t_auditor")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # The default hasher costs ~0.7 s per user on these machines; tests need no strength.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def cache_of_this_test_only(settings, request):
    # Each test its own empty cache: the shared one (Redis under CI, a folder otherwise)
    # would carry a cached dashboard or a queued-recompute mark from one test into the next.
    # Same process, so the live server of the browser tests shares it.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": request.node.nodeid,
        }
    }
    yield
    from django.core.cache import cache

    with contextlib.suppress(Exception):  # a test may have pointed the cache at a server that is down
        cache.clear()


@pytest.fixture(autouse=True)
def chinese_again_after_each_test():
    # The locale middleware activates the request's language for the thread and leaves it
    # active (a streamed CSV export is written after the middleware returns). In tests every
    # request runs in the one thread, so a test that asks for English would leave English
    # active for the next test's services and commands.
    yield
    translation.deactivate()
