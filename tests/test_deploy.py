"""Production settings, checked in fresh processes started the way a deployment starts them.

The test run itself has DEBUG on (pytest-django turns it off only at run time, after
settings.py has chosen development storage and the like), so whatever settings.py decides
from DEBUG=0 is examined in subprocesses with production environment variables: Django's
deploy checks, the security headers, static files from WhiteNoise, and the things that let
several web and worker processes share PostgreSQL, Redis and the media volume and nothing
else.
"""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)
REDIS = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


def production_env(var_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_", "SECURE_", "SESSION_"))}
    env.update(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="rectify.example.gov.cn,testserver",
        RECTIFY_VAR_DIR=str(var_dir),
        STATIC_ROOT=str(var_dir / "static"),
        MEDIA_ROOT=str(var_dir / "media"),
        # Each process gets its own throw-away database: what is tested here is settings.
        DATABASE_URL=f"sqlite:///{var_dir / 'db.sqlite3'}",
        DJANGO_SETTINGS_MODULE="rectify.settings",
    )
    env.pop("REDIS_URL", None)
    env.update(extra)
    return env


def run(args: list[str], env: dict[str, str], *, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(  # noqa: S603 (this interpreter, our manage.py and code, no outside input)
        [sys.executable, *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def run_python(code: str, env: dict[str, str]) -> object:
    """Run `code` after django.setup(); it prints one JSON value, which is returned."""
    prelude = "import django, json; django.setup()\n"
    result = run(["-c", prelude + code], env)
    return json.loads(result.stdout.strip().splitlines()[-1])


def _redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


# check --deploy connects to neither: names that do not resolve are enough.
SHARED = {"DATABASE_URL": "postgres://rectify@db.invalid:5432/rectify", "REDIS_URL": "redis://redis.invalid:6379/0"}


def test_deploy_checks_pass_with_production_settings(tmp_path):
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env(tmp_path, **SHARED))
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_deploy_checks_refuse_state_local_to_one_machine(tmp_path):
    # The SQLite database and file broker of `make demo`, with DEBUG off.
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env(tmp_path), check=False)
    assert result.returncode != 0
    assert "rectify.W001" in result.stderr and "rectify.W002" in result.stderr
    # A development run says nothing: the fallback is what makes a bare laptop work.
    development = run(["manage.py", "check", "--deploy"], {**production_env(tmp_path), "DEBUG": "1"})
    assert "rectify.W00" not in development.stdout + development.stderr


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    env = production_env(tmp_path)
    del env["SECRET_KEY"]
    result = run(["manage.py", "check"], env, check=False)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


SETTINGS_DUMP = """
from django.conf import settings as s
print(json.dumps({
    "session_cookie_secure": s.SESSION_COOKIE_SECURE,
    "csrf_cookie_secure": s.CSRF_COOKIE_SECURE,
    "hsts": s.SECURE_HSTS_SECONDS,
    "ssl_redirect": s.SECURE_SSL_REDIRECT,
    "redirect_exempt": s.SECURE_REDIRECT_EXEMPT,
    "session_engine": s.SESSION_ENGINE,
    "expire_at_close": s.SESSION_EXPIRE_AT_BROWSER_CLOSE,
    "cache": s.CACHES["default"]["BACKEND"],
    "cache_location": s.CACHES["default"].get("LOCATION"),
    "broker": s.CELERY_BROKER_URL,
    "results": s.CELERY_RESULT_BACKEND,
    "static_storage": s.STORAGES["staticfiles"]["BACKEND"],
    "media_root": str(s.MEDIA_ROOT),
    "middleware": s.MIDDLEWARE,
    "backends": s.AUTHENTICATION_BACKENDS,
}))
"""


def test_production_settings_are_hardened(tmp_path):
    dump = run_python(SETTINGS_DUMP, production_env(tmp_path))
    assert dump["session_cookie_secure"] and dump["csrf_cookie_secure"] and dump["ssl_redirect"]
    assert dump["hsts"] >= 31536000
    assert dump["expire_at_close"]
    assert dump["static_storage"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"
    middleware = dump["middleware"]
    assert middleware[:2] == [
        "django.middleware.security.SecurityMiddleware",
        "whitenoise.middleware.WhiteNoiseMiddleware",
    ]
    assert "rectify.common.security.ContentSecurityPolicyMiddleware" in middleware
    assert middleware[-1] == "axes.middleware.AxesMiddleware"
    assert dump["backends"][0] == "rectify.common.security.LoginThrottleBackend"


def test_scaled_out_processes_share_only_postgresql_redis_and_media(tmp_path):
    # With REDIS_URL set: cache and broker in Redis, sessions in the database, media at a
    # path the deployment mounts from shared storage. Nothing lives in one process's memory
    # or on one machine's disk (the beat schedule file belongs to the single beat process).
    env = production_env(tmp_path, REDIS_URL="redis://redis.internal:6379/0", MEDIA_ROOT="/srv/rectify-media")
    dump = run_python(SETTINGS_DUMP, env)
    assert dump["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert dump["cache_location"] == "redis://redis.internal:6379/0"
    assert dump["broker"] == dump["results"] == "redis://redis.internal:6379/0"
    assert dump["session_engine"] == "django.contrib.sessions.backends.db"
    assert dump["media_root"] == "/srv/rectify-media"


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """One production install on SQLite: migrated, static files collected, one user."""
    var_dir = tmp_path_factory.mktemp("deployed")
    env = production_env(var_dir)
    run(["manage.py", "migrate", "--noinput"], env)
    run(["manage.py", "collectstatic", "--noinput"], env)
    return var_dir, env


REQUESTS = """
from django.test import Client
plain, tls = Client(), Client()
out = {}
for name, client, path, secure in [
    ("healthz_http", plain, "/healthz", False),
    ("login_http", plain, "/login/", False),
    ("login_https", tls, "/login/", True),
]:
    r = client.get(path, secure=secure)
    out[name] = {"status": r.status_code, "headers": dict(r.headers)}
    if name == "login_https":
        out["html"] = r.content.decode()
css = [line for line in out["html"].split('"') if line.startswith("/static/css/app.")][0]
r = tls.get(css, secure=True)
out["css"] = {"url": css, "status": r.status_code, "headers": dict(r.headers)}
print(json.dumps(out))
"""


def test_production_pages_carry_the_security_headers_and_hashed_static_files(deployed):
    var_dir, env = deployed
    out = run_python(REQUESTS, env)
    # Plain HTTP is redirected to HTTPS, except the load balancer's health probe.
    assert out["login_http"]["status"] == 301
    assert out["login_http"]["headers"]["Location"].startswith("https://")
    assert out["healthz_http"]["status"] == 200
    headers = out["login_https"]["headers"]
    assert out["login_https"]["status"] == 200
    assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    # CSS from WhiteNoise under a content-hashed name, cacheable for ever.
    assert out["css"]["status"] == 200
    assert out["css"]["url"] != "/static/css/app.css"
    assert "max-age=315360000" in out["css"]["headers"]["Cache-Control"]


SESSION_FROM_ONE_PROCESS = """
from django.test import Client
from accounts.models import User
user, _ = User.objects.get_or_create(username="clerk_on_web1")
client = Client()
client.force_login(user)
print(json.dumps(client.cookies["sessionid"].value))
"""

SESSION_IN_ANOTHER = """
import sys
from django.test import Client
client = Client()
client.cookies["sessionid"] = sys.argv[1]
r = client.get("/ledger/", secure=True)
print(json.dumps({"status": r.status_code, "location": r.headers.get("Location", "")}))
"""


def test_a_session_made_by_one_web_process_is_honoured_by_another(deployed):
    var_dir, env = deployed
    session_key = run_python(SESSION_FROM_ONE_PROCESS, env)
    # A second process (another gunicorn worker or machine) knows nothing but the database.
    result = run(["-c", "import django, json; django.setup()\n" + SESSION_IN_ANOTHER, session_key], env)
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    # Logged in there too: the ledger (a user without a role sees an empty one), not the login page.
    assert answer["status"] == 200, answer


@pytest.mark.redis
def test_the_cache_written_by_one_process_is_read_by_another(tmp_path):
    if not _redis_reachable():
        pytest.skip(f"no Redis at {REDIS}")
    env = production_env(tmp_path, REDIS_URL=REDIS)
    key = f"test-deploy-{secrets.token_hex(8)}"
    run_python(f"from django.core.cache import cache; cache.set({key!r}, 'from web1', 60); print('1')", env)
    try:
        seen = run_python(f"from django.core.cache import cache; print(json.dumps(cache.get({key!r})))", env)
    finally:
        run_python(f"from django.core.cache import cache; cache.delete({key!r}); print('1')", env)
    assert seen == "from web1"
