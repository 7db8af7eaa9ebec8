"""Read shapes for the REST API. Names of related rows come from the selectors' joins
(select_related / annotations), never from a query per row."""

from rest_framework import serializers

from measures.models import Evidence, Measure, ProgressReport


class MeasureSerializer(serializers.ModelSerializer):
    inspection_title = serializers.CharField(source="inspection.title", read_only=True)
    category_title = serializers.CharField(source="category.title", read_only=True)
    finding_number = serializers.IntegerField(source="finding.number", read_only=True)
    finding_description = serializers.CharField(source="finding.description", read_only=True)
    responsible_leader_name = serializers.CharField(
        source="responsible_leader.display_name", read_only=True, allow_null=True, default=None
    )
    lead_department_name = serializers.CharField(source="lead_department.name", read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    signed_off_by_name = serializers.CharField(
        source="signed_off_by.display_name", read_only=True, allow_null=True, default=None
    )
    latest_progress = serializers.CharField(read_only=True, allow_null=True)
    latest_progress_on = serializers.DateField(read_only=True, allow_null=True)
    evidence_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Measure
        fields = [
            "id",
            "inspection",
            "inspection_title",
            "category",
            "category_title",
            "finding",
            "finding_number",
            "finding_description",
            "number",
            "text",
            "target",
            "kind",
            "kind_display",
            "responsible_leader",
            "responsible_leader_name",
            "lead_department",
            "lead_department_name",
            "assisting_departments",
            "owner",
            "deadline",
            "status",
            "status_display",
            "completed_at",
            "result",
            "reviewed_at",
            "signed_off_at",
            "signed_off_by_name",
            "is_overdue",
            "is_due_soon",
            "latest_progress",
            "latest_progress_on",
            "evidence_count",
            "version",
            "updated_at",
        ]
        read_only_fields = fields


class ProgressReportSerializer(serializers.ModelSerializer):
    author_name = serializers.CharField(source="author.display_name", read_only=True)

    class Meta:
        model = ProgressReport
        fields = ["id", "measure", "reported_on", "text", "author", "author_name", "created_at"]
        read_only_fields = fields


class EvidenceSerializer(serializers.ModelSerializer):
    """Metadata only: the file itself is served by the evidence download page, which checks
    who may see the measure first."""

    has_file = serializers.SerializerMethodField()
    uploaded_by_name = serializers.CharField(source="uploaded_by.display_name", read_only=True)

    class Meta:
        model = Evidence
        fields = [
            "id",
            "measure",
            "title",
            "document_number",
            "has_file",
            "original_name",
            "content_type",
            "size",
            "uploaded_by",
            "uploaded_by_name",
            "uploaded_at",
        ]
        read_only_fields = fields

    def get_has_file(self, evidence: Evidence) -> bool:
        return bool(evidence.file)
