"""Draft ledger from a pasted text; included from rectify/urls.py."""

from django.urls import path

from drafts import views as draft_views

app_name = "drafts"

urlpatterns = [
    path("drafts/", draft_views.draft_start, name="start"),
    path("drafts/confirm/", draft_views.draft_confirm, name="confirm"),
]
