"""`python manage.py load_demo`: the five published reports as demo ledgers, then fresh figures."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Role, User
from accounts.roles import role_of
from devdata.demo import DEMO_LOGINS, DemoDataError, demo_load

CREATED_LABELS = {
    "departments": gettext_lazy("责任单位"),
    "users": gettext_lazy("用户"),
    "inspections": gettext_lazy("检查"),
    "outcomes": gettext_lazy("问责与建章立制记录"),
    "categories": gettext_lazy("问题类别"),
    "findings": gettext_lazy("问题"),
    "measures": gettext_lazy("整改措施"),
    "decisions": gettext_lazy("审核与销号记录"),
    "evidence": gettext_lazy("佐证材料"),
    "progress_reports": gettext_lazy("整改进展"),
}


class Command(BaseCommand):
    help = "载入由五份公开整改报告整理的演示台账;可重复运行,已有数据保持不变。"

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset",
            action="store_true",
            help="先删除演示检查(连同其问题、措施、进展)再重新载入,相对今天的时限随之更新。",
        )

    def handle(self, *args, reset: bool = False, **options):
        today = timezone.localdate()
        try:
            result = demo_load(today=today, reset=reset)
        except DemoDataError as exc:
            raise CommandError(str(exc)) from exc

        # Imported here, not at the top: the recompute job lives in dashboards.services and
        # loading must not depend on it at import time.
        from dashboards.services import figures_recompute

        figures_recompute(today=today)

        created = result.created
        if any(created.values()):
            summary = "、".join(f"{CREATED_LABELS.get(what, what)} {n}" for what, n in created.items() if n)
            self.stdout.write(self.style.SUCCESS(_("演示数据已载入,新建:%(summary)s。") % {"summary": summary}))
        else:
            self.stdout.write(self.style.SUCCESS(_("演示数据已是最新,未作改动。")))
        self.stdout.write(_("统计数据已重新计算。"))
        self.stdout.write("")
        self.stdout.write(
            _("打开 %(url)s ,用下列账号登录(密码均为 %(password)s):")
            % {"url": settings.SITE_URL.rstrip("/") + "/", "password": settings.DEMO_PASSWORD}
        )
        users = {u.username: u for u in User.objects.filter(username__in=DEMO_LOGINS).select_related("department")}
        for username in DEMO_LOGINS:
            user = users[username]
            role = role_of(user)
            label = Role(role).label if role else ""
            where = f"({user.department.name})" if user.department else ""
            self.stdout.write(f"  {username:<8} {label}  {user.display_name}{where}")
