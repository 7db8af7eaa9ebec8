from django.urls import path

from measures import views

app_name = "measures"

urlpatterns = [
    path("ledger/", views.ledger, name="ledger"),
    path("ledger/batch/", views.ledger_batch, name="ledger_batch"),
    path("measures/<int:measure_id>/", views.measure_detail, name="detail"),
    path("measures/<int:measure_id>/status/", views.measure_set_status, name="set_status"),
    path("measures/<int:measure_id>/progress/", views.progress_add, name="progress_add"),
    path("measures/<int:measure_id>/evidence/", views.evidence_add, name="evidence_add"),
    path("measures/<int:measure_id>/extensions/", views.extension_request, name="extension_request"),
    path("measures/<int:measure_id>/review/", views.measure_review, name="review"),
    path("measures/<int:measure_id>/sign-off/", views.measure_sign_off, name="sign_off"),
    path("measures/<int:measure_id>/return-signed-off/", views.measure_return_signed_off, name="return_signed_off"),
    path("measures/<int:measure_id>/edit/", views.measure_edit, name="edit"),
    path("extensions/<int:extension_id>/decide/", views.extension_decide, name="extension_decide"),
    path("evidence/<int:evidence_id>/download/", views.evidence_download, name="evidence_download"),
    path("findings/<int:finding_id>/measures/new/", views.measure_create, name="create"),
]
