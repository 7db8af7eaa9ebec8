from decimal import Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _

from measures.rates import rate_percent


class ScopeKind(models.TextChoices):
    OVERALL = "overall", _("全局")
    INSPECTION = "inspection", _("检查")
    CATEGORY = "category", _("问题类别")
    DEPARTMENT = "department", _("责任单位")
    LEADER = "leader", _("责任领导")


class FigureCounts(models.Model):
    """Counts shared by the live figures and the daily snapshots."""

    scope_kind = models.CharField(_("范围"), max_length=16, choices=ScopeKind.choices)
    # The id of the inspection, category, department or leader; 0 for the overall scope.
    scope_id = models.BigIntegerField(_("范围编号"), default=0)
    measures = models.PositiveIntegerField(_("措施数"), default=0)
    completed = models.PositiveIntegerField(_("已完成"), default=0)
    signed_off = models.PositiveIntegerField(_("已销号"), default=0)
    overdue = models.PositiveIntegerField(_("超期"), default=0)
    due_soon = models.PositiveIntegerField(_("临期"), default=0)
    not_reported = models.PositiveIntegerField(_("本期未汇报"), default=0)
    findings = models.PositiveIntegerField(_("问题数"), default=0)
    rectified_findings = models.PositiveIntegerField(_("已整改到位问题"), default=0)

    class Meta:
        abstract = True

    @property
    def completion_rate(self) -> Decimal | None:
        return rate_percent(self.completed, self.measures)

    @property
    def sign_off_rate(self) -> Decimal | None:
        return rate_percent(self.signed_off, self.measures)

    @property
    def open_findings(self) -> int:
        return self.findings - self.rectified_findings


class Figure(FigureCounts):
    """The current figures of one scope, rewritten by every recompute."""

    computed_at = models.DateTimeField(_("计算时间"))

    class Meta:
        verbose_name = _("统计数据")
        verbose_name_plural = _("统计数据")
        constraints = [
            models.UniqueConstraint(fields=["scope_kind", "scope_id"], name="figure_unique_scope"),
        ]

    def __str__(self) -> str:
        return f"{self.scope_kind}:{self.scope_id}"


class DailySnapshot(FigureCounts):
    """One row per scope per day, for trend lines; a second run the same day updates it."""

    day = models.DateField(_("日期"))
    computed_at = models.DateTimeField(_("计算时间"))

    class Meta:
        verbose_name = _("每日快照")
        verbose_name_plural = _("每日快照")
        constraints = [
            models.UniqueConstraint(fields=["scope_kind", "scope_id", "day"], name="snapshot_unique_scope_day"),
        ]
        # The unique constraint already indexes (scope_kind, scope_id, day) for trend lines;
        # the recompute job clears a day's stale rows by day alone.
        indexes = [models.Index(fields=["day"], name="snapshot_day_idx")]

    def __str__(self) -> str:
        return f"{self.scope_kind}:{self.scope_id} {self.day}"


class RecomputeState(models.Model):
    """A single row: when the figures were last computed, read by the pages' "数据更新于"."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)
    last_duration_ms = models.PositiveIntegerField(default=0)
    measures_changed = models.PositiveIntegerField(default=0)
    # Claimed with a conditional UPDATE where there are no advisory locks (SQLite), so two
    # overlapping runs never write the figures at once; a crashed run's claim goes stale.
    running_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("统计任务状态")
        verbose_name_plural = _("统计任务状态")

    def __str__(self) -> str:
        return f"{self.last_finished_at}"
