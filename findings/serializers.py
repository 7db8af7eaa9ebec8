"""Read shapes of inspections, categories and findings for the REST API."""

from rest_framework import serializers

from findings.models import Category, Finding, Inspection


class InspectionSerializer(serializers.ModelSerializer):
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)

    class Meta:
        model = Inspection
        fields = [
            "id",
            "kind",
            "kind_display",
            "title",
            "round",
            "document_number",
            "source_body",
            "inspected_unit",
            "deployment",
            "onsite_start",
            "onsite_end",
            "feedback_date",
            "deadline",
            "follows_up",
            "summary",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class CategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["id", "inspection", "order", "title"]
        read_only_fields = fields


class FindingSerializer(serializers.ModelSerializer):
    category_title = serializers.CharField(source="category.title", read_only=True)

    class Meta:
        model = Finding
        fields = ["id", "inspection", "category", "category_title", "number", "description", "created_at"]
        read_only_fields = fields
