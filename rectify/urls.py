from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from rectify.common.health import healthz

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="dashboards:dashboard"), name="home"),
    path("healthz", healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("", include("measures.urls")),
    path("", include("dashboards.urls")),
    path("", include("findings.urls")),
    path("", include("ledgerio.urls")),
    path("", include("notices.urls")),
    path("", include("drafts.urls")),
    path("", include("measures.lookback_urls")),
    path("api/", include("rectify.api_urls")),
]
