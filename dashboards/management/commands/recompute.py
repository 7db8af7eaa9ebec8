"""`python manage.py recompute`: the beat job, run now and in this process."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from dashboards.services import figures_recompute


class Command(BaseCommand):
    help = "重新计算超期、临期、本期汇报标记和各维度统计数据(与定时任务相同,同步执行)。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--today",
            type=date.fromisoformat,
            help="按此日期计算(YYYY-MM-DD),默认为今天(Asia/Shanghai)。",
        )

    def handle(self, *args: object, today: date | None = None, **options: object) -> None:
        result = figures_recompute(today=today)
        if result.skipped:
            raise CommandError(_("另一个统计任务正在运行,本次跳过。"))
        self.stdout.write(
            _(
                "%(today)s 统计完成:耗时 %(seconds).3f 秒,%(statements)d 条 SQL 语句;"
                "标记变更:超期 %(overdue)d,临期 %(due_soon)d,本期汇报 %(reported)d;"
                "统计数据 %(figures)d 行,每日快照 %(snapshots)d 行。"
            )
            % {
                "today": result.today.isoformat(),
                "seconds": result.seconds,
                "statements": result.statements,
                "overdue": result.overdue_changed,
                "due_soon": result.due_soon_changed,
                "reported": result.reported_changed,
                "figures": result.figures,
                "snapshots": result.snapshots,
            }
        )
