from django.urls import path

from dashboards import views

app_name = "dashboards"

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/inspections/<int:inspection_id>/", views.inspection_dashboard, name="inspection"),
    path("dashboard/recompute/", views.recompute, name="recompute"),
]
