"""Exports, change history and imports; included from rectify/urls.py next to measures.urls."""

from django.urls import path

from ledgerio import views as io_views

app_name = "ledgerio"

urlpatterns = [
    path("ledger/export.csv", io_views.ledger_export_csv, name="ledger_export_csv"),
    path("ledger/export.xlsx", io_views.ledger_export_xlsx, name="ledger_export_xlsx"),
    path("history/export/", io_views.history_export, name="history_export"),
    path("history/export.csv", io_views.history_export_csv, name="history_export_csv"),
    path("imports/", io_views.import_start, name="import_start"),
    path("imports/<str:token>/", io_views.import_preview, name="import_preview"),
    path("imports/<str:token>/confirm/", io_views.import_confirm, name="import_confirm"),
    path("imports/<str:token>/cancel/", io_views.import_cancel, name="import_cancel"),
]
