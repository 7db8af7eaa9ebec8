from django.db.models import Count, Prefetch, Q, QuerySet

from findings.models import Category, Finding, Inspection


def inspections_for_list() -> QuerySet[Inspection]:
    # Counts come from the measures table in one grouped query per page.
    return Inspection.objects.annotate(
        finding_count=Count("findings", distinct=True),
        category_count=Count("categories", distinct=True),
    ).order_by("-feedback_date", "-id")


def inspection_for_page(inspection_id: int) -> Inspection:
    findings = Finding.objects.annotate(
        measure_count=Count("measures"),
        open_count=Count("measures", filter=~Q(measures__status__in=["completed", "reviewed", "signed_off"])),
    ).order_by("number")
    return (
        Inspection.objects.select_related("follows_up")
        .prefetch_related(
            Prefetch("categories", Category.objects.prefetch_related(Prefetch("findings", findings))),
            "lookbacks",
            "outcomes",
        )
        .get(pk=inspection_id)
    )
