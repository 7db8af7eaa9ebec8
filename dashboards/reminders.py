"""The morning digest: each department's staff hear of their red, yellow and unreported
measures in one email; leadership gets the overall summary.

The number of queries is fixed: the flags are refreshed first (figures_recompute), then one
query reads every measure that needs attention, one the staff, one the leaders and one the
overall figure. Measures are grouped per department in Python, in a single pass.
"""

from dataclasses import asdict, dataclass, field
from datetime import date

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Role, User
from dashboards.models import Figure, ScopeKind
from dashboards.services import figures_recompute, reporting_period
from measures.models import COMPLETED_STATUSES, Measure


@dataclass(frozen=True)
class ReminderResult:
    departments: int
    department_emails: int
    leadership_emails: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class DigestSection:
    """One coloured list of a digest: at most REMINDER_MAX_ITEMS rows, all of them counted."""

    items: list[dict[str, object]] = field(default_factory=list)
    total: int = 0

    def add(self, item: dict[str, object], limit: int) -> None:
        self.total += 1
        if len(self.items) < limit:
            self.items.append(item)

    @property
    def more(self) -> int:
        return self.total - len(self.items)


@dataclass
class DepartmentDigest:
    department_id: int
    department_name: str
    overdue: DigestSection = field(default_factory=DigestSection)
    due_soon: DigestSection = field(default_factory=DigestSection)
    not_reported: DigestSection = field(default_factory=DigestSection)


def reminders_send(*, today: date | None = None) -> ReminderResult:
    """Send the day's digests; `today` is fixed by tests, else the bureau's date."""
    today = today or timezone.localdate()
    # The flags must be today's even if the midnight run failed; a run already in
    # progress (skipped here) is computing the same flags.
    figures_recompute(today=today)

    digests = _department_digests()
    period_start, period_end = reporting_period(today)
    context = {
        "today": today,
        "period_start": period_start,
        "period_end": period_end,
        "site_url": settings.SITE_URL,
    }

    messages = []
    with translation.override(settings.LANGUAGE_CODE):
        staff = (
            User.objects.filter(is_active=True, groups__name=Role.STAFF, department_id__in=digests.keys())
            .exclude(email="")
            .order_by("department_id", "id")
            .values_list("email", "department_id")
        )
        for email, department_id in staff:
            messages.append(_department_message(email, digests[department_id], context))
        department_emails = len(messages)

        overall = Figure.objects.filter(scope_kind=ScopeKind.OVERALL, scope_id=0).first()
        if overall is not None and overall.measures:
            leaders = (
                User.objects.filter(is_active=True, groups__name=Role.LEADERSHIP)
                .exclude(email="")
                .order_by("id")
                .values_list("email", flat=True)
            )
            summary = {
                **context,
                "overall": overall,
                "departments": sorted(digests.values(), key=lambda d: (-d.overdue.total, d.department_name)),
            }
            messages += [_leadership_message(email, summary) for email in leaders]

    if messages:
        get_connection().send_messages(messages)
    return ReminderResult(
        departments=len(digests),
        department_emails=department_emails,
        leadership_emails=len(messages) - department_emails,
    )


def _department_digests() -> dict[int, DepartmentDigest]:
    """Every department with something to report, with its three sections filled."""
    limit = settings.REMINDER_MAX_ITEMS
    site = settings.SITE_URL.rstrip("/")
    open_ = ~Q(status__in=COMPLETED_STATUSES)
    rows = (
        Measure.objects.filter(Q(is_overdue=True) | Q(is_due_soon=True) | (open_ & Q(reported_this_period=False)))
        .order_by("lead_department_id", "deadline", "id")
        .values(
            "id",
            "lead_department_id",
            "lead_department__name",
            "inspection__title",
            "finding__number",
            "number",
            "text",
            "deadline",
            "status",
            "is_overdue",
            "is_due_soon",
            "reported_this_period",
        )
    )
    digests: dict[int, DepartmentDigest] = {}
    for row in rows.iterator(chunk_size=2000):
        department_id = row["lead_department_id"]
        digest = digests.get(department_id)
        if digest is None:
            digest = digests[department_id] = DepartmentDigest(department_id, row["lead_department__name"])
        item = {
            "url": f"{site}/measures/{row['id']}/",
            "inspection": row["inspection__title"],
            "number": f"{row['finding__number']}-{row['number']}",
            "text": row["text"],
            "deadline": row["deadline"],
        }
        if row["is_overdue"]:
            digest.overdue.add(item, limit)
        if row["is_due_soon"]:
            digest.due_soon.add(item, limit)
        if not row["reported_this_period"] and row["status"] not in COMPLETED_STATUSES:
            digest.not_reported.add(item, limit)
    return digests


def _department_message(email: str, digest: DepartmentDigest, context: dict) -> EmailMultiAlternatives:
    context = {**context, "digest": digest}
    subject = _(
        "【整改提醒】%(department)s:超期 %(overdue)d 条,临期 %(due_soon)d 条,本期未汇报 %(not_reported)d 条"
    ) % {
        "department": digest.department_name,
        "overdue": digest.overdue.total,
        "due_soon": digest.due_soon.total,
        "not_reported": digest.not_reported.total,
    }
    return _message(email, subject, "dashboards/email/department_digest", context)


def _leadership_message(email: str, context: dict) -> EmailMultiAlternatives:
    overall = context["overall"]
    subject = _("【整改日报】%(today)s 整改完成率 %(rate)s%%,超期 %(overdue)d 条") % {
        "today": context["today"].isoformat(),
        "rate": overall.completion_rate,
        "overdue": overall.overdue,
    }
    return _message(email, subject, "dashboards/email/leadership_summary", context)


def _message(email: str, subject: str, template: str, context: dict) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"{template}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[email],
    )
    message.attach_alternative(render_to_string(f"{template}.html", context), "text/html")
    return message
