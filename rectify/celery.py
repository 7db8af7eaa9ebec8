"""The Celery app; configuration comes from Django settings (CELERY_* names)."""

import os
from datetime import timedelta

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rectify.settings")

app = Celery("rectify")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def add_beat_schedule(sender: Celery, **kwargs: object) -> None:
    from django.conf import settings

    # crontab times are in CELERY_TIMEZONE (Asia/Shanghai), the bureau's day.
    sender.conf.beat_schedule = {
        "recompute-figures": {
            "task": "dashboards.tasks.recompute_figures",
            "schedule": timedelta(minutes=settings.RECOMPUTE_EVERY_MINUTES),
        },
        # Dates roll over at midnight: yesterday's due-soon measures become overdue now,
        # not up to RECOMPUTE_EVERY_MINUTES later, and today's snapshot row starts.
        "recompute-figures-after-midnight": {
            "task": "dashboards.tasks.recompute_figures",
            "schedule": crontab(hour=0, minute=1),
        },
        "send-daily-reminders": {
            "task": "dashboards.tasks.send_daily_reminders",
            "schedule": crontab(hour=settings.REMINDER_HOUR, minute=settings.REMINDER_MINUTE),
        },
    }
