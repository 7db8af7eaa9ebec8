"""Look-back (回头看) pages; included from rectify/urls.py."""

from django.urls import path

from measures import lookback_views

app_name = "lookbacks"

urlpatterns = [
    path("inspections/<int:inspection_id>/lookback/new/", lookback_views.lookback_new, name="new"),
    path("inspections/<int:inspection_id>/lookback/", lookback_views.lookback_page, name="lookback"),
    path(
        "inspections/<int:inspection_id>/lookback/measures/<int:measure_id>/reopen/",
        lookback_views.lookback_reopen,
        name="reopen",
    ),
]
