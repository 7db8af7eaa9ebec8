"""The notice pages; included from rectify/urls.py next to dashboards.urls."""

from django.urls import path

from notices import views as notice_views

app_name = "notices"

urlpatterns = [
    path("inspections/<int:inspection_id>/notice/", notice_views.notice, name="notice"),
    path("inspections/<int:inspection_id>/notice.docx", notice_views.notice_docx_download, name="notice_docx"),
    path("inspections/<int:inspection_id>/notice.txt", notice_views.notice_txt_download, name="notice_txt"),
]
