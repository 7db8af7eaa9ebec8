from django.urls import path

from findings import views

app_name = "findings"

urlpatterns = [
    path("inspections/", views.inspection_list, name="inspection_list"),
    path("inspections/new/", views.inspection_create, name="inspection_create"),
    path("inspections/<int:inspection_id>/", views.inspection_detail, name="inspection_detail"),
    path("inspections/<int:inspection_id>/edit/", views.inspection_edit, name="inspection_edit"),
    path("inspections/<int:inspection_id>/categories/new/", views.category_create, name="category_create"),
    path("inspections/<int:inspection_id>/findings/new/", views.finding_create, name="finding_create"),
    path("categories/<int:category_id>/edit/", views.category_edit, name="category_edit"),
    path("findings/<int:finding_id>/edit/", views.finding_edit, name="finding_edit"),
]
