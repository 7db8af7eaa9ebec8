from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from accounts.models import Department
from findings.models import Category, Finding, Inspection


class MeasureStatus(models.TextChoices):
    NOT_STARTED = "not_started", _("未开始")
    IN_PROGRESS = "in_progress", _("整改中")
    COMPLETED = "completed", _("已完成")
    REVIEWED = "reviewed", _("已审核")
    SIGNED_OFF = "signed_off", _("已销号")
    RETURNED = "returned", _("退回")


# Completion rate counts a measure once the owner has completed it, whatever the later
# review and sign-off steps say (DOMAIN.md, "Figures").
COMPLETED_STATUSES = (MeasureStatus.COMPLETED, MeasureStatus.REVIEWED, MeasureStatus.SIGNED_OFF)
OPEN_STATUSES = (MeasureStatus.NOT_STARTED, MeasureStatus.IN_PROGRESS, MeasureStatus.RETURNED)


class MeasureKind(models.TextChoices):
    IMMEDIATE = "immediate", _("立行立改")
    BY_DEADLINE = "by_deadline", _("限期整改")
    LONG_TERM = "long_term", _("长期坚持")


class Measure(models.Model):
    """整改措施: one row of the master ledger (大台账)."""

    finding = models.ForeignKey(Finding, verbose_name=_("问题"), on_delete=models.CASCADE, related_name="measures")
    # Denormalised from the finding so the ledger filters and the recompute job's GROUP BYs
    # read one table at a million rows; services keep them equal to the finding's.
    inspection = models.ForeignKey(
        Inspection, verbose_name=_("检查"), on_delete=models.CASCADE, related_name="measures"
    )
    category = models.ForeignKey(
        Category, verbose_name=_("问题类别"), on_delete=models.CASCADE, related_name="measures"
    )
    number = models.PositiveIntegerField(_("措施编号"))
    text = models.TextField(_("整改措施"))
    target = models.TextField(_("整改目标"), blank=True)
    kind = models.CharField(_("整改类型"), max_length=16, choices=MeasureKind.choices, default=MeasureKind.BY_DEADLINE)
    responsible_leader = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("责任领导"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="led_measures",
    )
    lead_department = models.ForeignKey(
        Department, verbose_name=_("牵头单位"), on_delete=models.PROTECT, related_name="led_measures"
    )
    assisting_departments = models.ManyToManyField(
        Department, verbose_name=_("配合单位"), blank=True, related_name="assisted_measures"
    )
    owner = models.CharField(_("责任人"), max_length=100, blank=True)
    deadline = models.DateField(_("整改时限"))
    status = models.CharField(
        _("状态"), max_length=16, choices=MeasureStatus.choices, default=MeasureStatus.NOT_STARTED
    )
    completed_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    result = models.TextField(_("整改成效"), blank=True)
    reviewed_at = models.DateTimeField(_("审核时间"), null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("审核人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    signed_off_at = models.DateTimeField(_("销号时间"), null=True, blank=True)
    signed_off_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("销号人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # Flags kept by the recompute job (dashboards.services); never edited by hand.
    is_overdue = models.BooleanField(_("是否超期"), default=False)
    is_due_soon = models.BooleanField(_("是否临期"), default=False)
    reported_this_period = models.BooleanField(_("本期已汇报"), default=False)
    last_progress_at = models.DateTimeField(_("最新进展时间"), null=True, blank=True)
    # Optimistic locking: a save names the version it read; a stale one is refused.
    version = models.PositiveIntegerField(_("版本"), default=1)
    reopens = models.ForeignKey(
        "self",
        verbose_name=_("反弹重开自"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reopened_as",
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    # Assisting departments are part of what a measure is (who must act on it), so each history
    # row also records the set as it stood: a change to them alone is a change on record.
    history = HistoricalRecords(
        excluded_fields=["is_overdue", "is_due_soon", "reported_this_period", "updated_at"],
        m2m_fields=["assisting_departments"],
    )

    class Meta:
        ordering = ["inspection_id", "finding__number", "number"]
        verbose_name = _("整改措施")
        verbose_name_plural = _("整改措施")
        constraints = [
            models.UniqueConstraint(
                fields=["finding", "number"],
                name="measure_number_unique_in_finding",
                violation_error_message=_("同一问题内措施编号不能重复。"),
            ),
            models.CheckConstraint(condition=Q(number__gte=1), name="measure_number_positive"),
            models.CheckConstraint(condition=Q(version__gte=1), name="measure_version_positive"),
            models.CheckConstraint(
                condition=~Q(status="signed_off") | (Q(signed_off_by__isnull=False) & Q(signed_off_at__isnull=False)),
                name="measure_signed_off_has_signer",
                violation_error_message=_("已销号的措施必须有销号人和销号时间。"),
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["reviewed", "signed_off"])
                | (Q(reviewed_by__isnull=False) & Q(reviewed_at__isnull=False)),
                name="measure_reviewed_has_reviewer",
                violation_error_message=_("已审核的措施必须有审核人和审核时间。"),
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["completed", "reviewed", "signed_off"]) | Q(completed_at__isnull=False),
                name="measure_completed_has_time",
                violation_error_message=_("已完成的措施必须有完成时间。"),
            ),
            models.CheckConstraint(
                condition=Q(reopens__isnull=True) | ~Q(reopens=F("id")),
                name="measure_not_reopening_itself",
            ),
        ]
        indexes = [
            models.Index(fields=["status"], name="measure_status_idx"),
            models.Index(fields=["lead_department", "status"], name="measure_dept_status_idx"),
            models.Index(fields=["deadline"], name="measure_deadline_idx"),
            models.Index(fields=["inspection", "status"], name="measure_inspection_status_idx"),
            models.Index(fields=["responsible_leader", "status"], name="measure_leader_status_idx"),
            models.Index(fields=["is_overdue"], name="measure_overdue_idx", condition=Q(is_overdue=True)),
            models.Index(fields=["is_due_soon"], name="measure_due_soon_idx", condition=Q(is_due_soon=True)),
        ]

    def __str__(self) -> str:
        return f"{self.finding.number}-{self.number} {self.text[:40]}"

    @property
    def is_completed(self) -> bool:
        return self.status in COMPLETED_STATUSES


class ProgressReport(models.Model):
    """整改进展: dated text by a user (一月一汇报)."""

    measure = models.ForeignKey(
        Measure, verbose_name=_("整改措施"), on_delete=models.CASCADE, related_name="progress_reports"
    )
    reported_on = models.DateField(_("汇报日期"))
    text = models.TextField(_("进展情况"))
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("填报人"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("填报时间"), auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-reported_on", "-id"]
        verbose_name = _("整改进展")
        verbose_name_plural = _("整改进展")
        indexes = [models.Index(fields=["measure", "-reported_on"], name="progress_measure_date_idx")]

    def __str__(self) -> str:
        return f"{self.reported_on} {self.text[:40]}"


def evidence_upload_to(instance: "Evidence", filename: str) -> str:
    return f"evidence/{instance.measure_id}/{filename}"


class Evidence(models.Model):
    """佐证材料: a file and/or an issued document number such as 温民办〔2022〕27号."""

    measure = models.ForeignKey(Measure, verbose_name=_("整改措施"), on_delete=models.CASCADE, related_name="evidence")
    title = models.CharField(_("材料名称"), max_length=200)
    document_number = models.CharField(_("文号"), max_length=100, blank=True)
    file = models.FileField(_("文件"), upload_to=evidence_upload_to, blank=True, max_length=300)
    original_name = models.CharField(_("原文件名"), max_length=255, blank=True)
    content_type = models.CharField(_("文件类型"), max_length=100, blank=True)
    size = models.PositiveBigIntegerField(_("大小"), default=0)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("上传人"), on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(_("上传时间"), auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["uploaded_at", "id"]
        verbose_name = _("佐证材料")
        verbose_name_plural = _("佐证材料")
        constraints = [
            models.CheckConstraint(
                condition=~Q(file="") | ~Q(document_number=""),
                name="evidence_has_file_or_document_number",
                violation_error_message=_("佐证材料需上传文件或填写文号。"),
            ),
        ]

    def __str__(self) -> str:
        return self.title


class ExtensionStatus(models.TextChoices):
    PENDING = "pending", _("待审批")
    APPROVED = "approved", _("已批准")
    REFUSED = "refused", _("未批准")


class Extension(models.Model):
    """延期: a request to move a deadline, kept on record whatever its outcome."""

    measure = models.ForeignKey(
        Measure, verbose_name=_("整改措施"), on_delete=models.CASCADE, related_name="extensions"
    )
    old_deadline = models.DateField(_("原时限"))
    new_deadline = models.DateField(_("申请时限"))
    reason = models.TextField(_("延期理由"))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("申请人"), on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(_("申请时间"), auto_now_add=True)
    status = models.CharField(
        _("审批状态"), max_length=16, choices=ExtensionStatus.choices, default=ExtensionStatus.PENDING
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("审批人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("审批时间"), null=True, blank=True)
    decision_comment = models.TextField(_("审批意见"), blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = _("延期申请")
        verbose_name_plural = _("延期申请")
        constraints = [
            models.CheckConstraint(
                condition=Q(new_deadline__gt=F("old_deadline")),
                name="extension_moves_deadline_later",
                violation_error_message=_("申请的新时限必须晚于原时限。"),
            ),
            models.CheckConstraint(
                condition=Q(status="pending") | (Q(decided_by__isnull=False) & Q(decided_at__isnull=False)),
                name="extension_decision_has_decider",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.old_deadline} → {self.new_deadline}"


class DecisionAction(models.TextChoices):
    REVIEW_PASS = "review_pass", _("审核通过")
    REVIEW_RETURN = "review_return", _("审核退回")
    SIGN_OFF = "sign_off", _("销号")
    SIGN_OFF_RETURN = "sign_off_return", _("销号退回")
    # A signed-off measure sent back by the office: the one way a sign-off is undone.
    SIGN_OFF_REVOKE = "sign_off_revoke", _("退回已销号")


# Every decision that sends a measure back needs its reason on record.
RETURN_ACTIONS = (DecisionAction.REVIEW_RETURN, DecisionAction.SIGN_OFF_RETURN, DecisionAction.SIGN_OFF_REVOKE)


class MeasureDecision(models.Model):
    """One step of review (审核) or sign-off (销号): who, when, what, and why."""

    measure = models.ForeignKey(Measure, verbose_name=_("整改措施"), on_delete=models.CASCADE, related_name="decisions")
    action = models.CharField(_("操作"), max_length=20, choices=DecisionAction.choices)
    comment = models.TextField(_("意见"), blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("操作人"), on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(_("操作时间"), auto_now_add=True)

    class Meta:
        ordering = ["decided_at", "id"]
        verbose_name = _("审核与销号记录")
        verbose_name_plural = _("审核与销号记录")
        constraints = [
            models.CheckConstraint(
                condition=~Q(action__in=[a.value for a in RETURN_ACTIONS]) | ~Q(comment=""),
                name="decision_return_has_reason",
                violation_error_message=_("退回必须填写理由。"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.decided_at:%Y-%m-%d}"


class ImportColumnMapping(models.Model):
    """The columns a user last mapped when importing a ledger, offered again next time."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, verbose_name=_("用户"), on_delete=models.CASCADE, related_name="import_mapping"
    )
    # target field → header text in the user's file, e.g. {"department": "责任部门"}.
    mapping = models.JSONField(_("列对应"), default=dict, blank=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("导入列对应")
        verbose_name_plural = _("导入列对应")

    def __str__(self) -> str:
        return f"{self.user_id}"


class PendingImport(models.Model):
    """An uploaded ledger between preview and confirmation, kept on the server so the
    confirmation never trusts a copy sent back by the browser."""

    token = models.CharField(_("令牌"), max_length=64, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("用户"), on_delete=models.CASCADE, related_name="+"
    )
    filename = models.CharField(_("文件名"), max_length=255)
    content = models.BinaryField(_("文件内容"))
    size = models.PositiveIntegerField(_("大小"), default=0)
    mapping = models.JSONField(_("列对应"), default=dict, blank=True)
    inspection_title = models.CharField(_("检查名称"), max_length=200, blank=True)
    # The digest of the plan last shown; confirming requires the same plan.
    plan_digest = models.CharField(_("预览摘要"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("上传时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("待确认导入")
        verbose_name_plural = _("待确认导入")

    def __str__(self) -> str:
        return self.filename
