"""Retake the README's screenshots from the demo ledgers, as a newcomer sees them.

    .venv/bin/python docs/screenshots.py

Builds a throw-away SQLite database (the five demo ledgers of `load_demo`), serves it with
`runserver` on a free loopback port, signs in through the login form in Debian's Chromium
and saves docs/dashboard.png, docs/ledger.png, docs/measure.png and docs/notice.png.
Nothing of the developer's own var/ database is touched.
"""

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
WIDTH = 1366


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)  # noqa: S310 (our own loopback server)
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the server at {url} did not come up")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp}/demo.sqlite3", "MEDIA_ROOT": f"{tmp}/media"}
        env.pop("REDIS_URL", None)
        manage = [sys.executable, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, check=True)
        subprocess.run([*manage, "load_demo"], env=env, check=True, stdout=subprocess.DEVNULL)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [*manage, "runserver", "--noreload", f"127.0.0.1:{port}"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_up(f"{base}/healthz")
            shoot(base, env)
        finally:
            server.terminate()
            server.wait()


def shoot(base: str, env: dict[str, str]) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": WIDTH, "height": 900}, locale="zh-CN").new_page()
        page.goto(f"{base}/login/")
        page.fill("input[name=username]", "office")
        page.fill("input[name=password]", env.get("DEMO_PASSWORD", "rectify-demo"))
        page.click("form button[type=submit]")
        page.wait_for_url(lambda url: "/login/" not in url)

        page.goto(f"{base}/dashboard/")
        page.set_viewport_size({"width": WIDTH, "height": 1300})
        page.screenshot(path=str(DOCS / "dashboard.png"))
        page.set_viewport_size({"width": WIDTH, "height": 900})

        # The Wenzhou look-back (document 002): its ledger, one of its measures, its notice.
        page.goto(f"{base}/ledger/?q=螺丝厂")
        page.locator("table.ledger tbody a").first.click()
        page.wait_for_url("**/measures/*/")
        page.screenshot(path=str(DOCS / "measure.png"), full_page=False)
        # The breadcrumb's first link is the ledger of the measure's inspection.
        ledger = page.locator("a[href*='/ledger/?inspection=']").first.get_attribute("href")
        inspection_id = ledger.split("inspection=", 1)[1].split("&", 1)[0]
        page.goto(f"{base}{ledger}&ordering=deadline")
        page.screenshot(path=str(DOCS / "ledger.png"))
        page.goto(f"{base}/inspections/{inspection_id}/notice/")
        page.screenshot(path=str(DOCS / "notice.png"))
        browser.close()


if __name__ == "__main__":
    main()
