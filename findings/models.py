from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class InspectionKind(models.TextChoices):
    PATROL = "patrol", _("巡察")
    PATROL_LOOKBACK = "patrol_lookback", _("巡察“回头看”")
    CONGRESS_APPRAISAL = "congress_appraisal", _("人大评议")
    AUDIT = "audit", _("审计")
    SUPERVISION = "supervision", _("督查")
    SURVEY = "survey", _("调研")
    PETITION = "petition", _("信访")
    SELF_REVIEW = "self_review", _("自查")
    OTHER = "other", _("其他")


class Inspection(models.Model):
    """检查: a party inspection, a congress appraisal, an audit … whose feedback lists findings."""

    kind = models.CharField(_("检查类型"), max_length=32, choices=InspectionKind.choices)
    title = models.CharField(_("检查名称"), max_length=200)
    round = models.CharField(_("轮次"), max_length=50, blank=True)
    document_number = models.CharField(_("反馈文号"), max_length=100, blank=True)
    source_body = models.CharField(_("检查机关"), max_length=200, blank=True)
    inspected_unit = models.CharField(_("被检查单位"), max_length=200, blank=True)
    deployment = models.CharField(_("部署依据"), max_length=200, blank=True, help_text=_("如:市委巡察工作统一部署"))
    onsite_start = models.DateField(_("进驻开始"), null=True, blank=True)
    onsite_end = models.DateField(_("进驻结束"), null=True, blank=True)
    feedback_date = models.DateField(_("反馈日期"), null=True, blank=True)
    deadline = models.DateField(_("整改总时限"), null=True, blank=True)
    follows_up = models.ForeignKey(
        "self",
        verbose_name=_("回头看对应的原检查"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="lookbacks",
    )
    summary = models.TextField(_("概述"), blank=True)
    source_note = models.TextField(_("数据来源说明"), blank=True, help_text=_("如:原文只给出总数、未列明细"))
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        ordering = ["-feedback_date", "-id"]
        verbose_name = _("检查")
        verbose_name_plural = _("检查")
        constraints = [
            models.CheckConstraint(
                condition=Q(onsite_end__isnull=True)
                | Q(onsite_start__isnull=True)
                | Q(onsite_end__gte=F("onsite_start")),
                name="inspection_onsite_end_after_start",
                violation_error_message=_("进驻结束日期不能早于开始日期。"),
            ),
            models.CheckConstraint(
                condition=Q(deadline__isnull=True)
                | Q(feedback_date__isnull=True)
                | Q(deadline__gte=F("feedback_date")),
                name="inspection_deadline_after_feedback",
                violation_error_message=_("整改总时限不能早于反馈日期。"),
            ),
            models.CheckConstraint(
                condition=~Q(follows_up=F("id")),
                name="inspection_not_own_lookback",
                violation_error_message=_("回头看不能指向检查本身。"),
            ),
        ]

    def __str__(self) -> str:
        return self.title


class OutcomeKind(models.TextChoices):
    CRITICISED = "criticised", _("批评教育")
    REMINDER_TALK = "reminder_talk", _("提醒谈话")
    REGULATION_NEW = "regulation_new", _("新制定制度")
    REGULATION_REVISED = "regulation_revised", _("修订完善制度")
    OTHER_ACCOUNTABILITY = "other_accountability", _("其他问责")


class InspectionOutcome(models.Model):
    """问责 and 建章立制 records; the notice sums their counts by kind."""

    inspection = models.ForeignKey(
        Inspection, verbose_name=_("检查"), on_delete=models.CASCADE, related_name="outcomes"
    )
    kind = models.CharField(_("类型"), max_length=32, choices=OutcomeKind.choices)
    count = models.PositiveIntegerField(_("数量"), default=1)
    note = models.CharField(_("说明"), max_length=300, blank=True)
    recorded_on = models.DateField(_("记录日期"), null=True, blank=True)

    class Meta:
        ordering = ["inspection", "kind", "id"]
        verbose_name = _("问责与建章立制记录")
        verbose_name_plural = _("问责与建章立制记录")
        constraints = [
            models.CheckConstraint(condition=Q(count__gte=1), name="outcome_count_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.count}"


class Category(models.Model):
    """问题类别 / 方面, ordered within its inspection."""

    inspection = models.ForeignKey(
        Inspection, verbose_name=_("检查"), on_delete=models.CASCADE, related_name="categories"
    )
    order = models.PositiveIntegerField(_("序号"))
    title = models.CharField(_("类别名称"), max_length=300)

    class Meta:
        ordering = ["inspection", "order"]
        verbose_name = _("问题类别")
        verbose_name_plural = _("问题类别")
        constraints = [
            models.UniqueConstraint(
                fields=["inspection", "order"],
                name="category_order_unique_in_inspection",
                violation_error_message=_("同一检查内类别序号不能重复。"),
            ),
            models.CheckConstraint(condition=Q(order__gte=1), name="category_order_positive"),
        ]

    def __str__(self) -> str:
        return self.title


class Finding(models.Model):
    """问题: numbered across its inspection (1, 2, … 12 in document 000)."""

    inspection = models.ForeignKey(
        Inspection, verbose_name=_("检查"), on_delete=models.CASCADE, related_name="findings"
    )
    category = models.ForeignKey(
        Category, verbose_name=_("问题类别"), on_delete=models.CASCADE, related_name="findings"
    )
    number = models.PositiveIntegerField(_("问题编号"))
    description = models.TextField(_("问题描述"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        ordering = ["inspection", "number"]
        verbose_name = _("问题")
        verbose_name_plural = _("问题")
        constraints = [
            models.UniqueConstraint(
                fields=["inspection", "number"],
                name="finding_number_unique_in_inspection",
                violation_error_message=_("同一检查内问题编号不能重复。"),
            ),
            models.CheckConstraint(condition=Q(number__gte=1), name="finding_number_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.number}. {self.description[:40]}"
