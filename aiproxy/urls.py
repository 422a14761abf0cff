from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    # Before admin/: the admin's catch-all view would otherwise answer /admin/finance/.
    path("admin/finance/", include("metrics_app.urls")),
    path("admin/", admin.site.urls),
    # /v1 is served by the direct ASGI route (aiproxy/asgi.py), not by Django: its OpenAPI
    # paths come from its declarations (completions_app/api/openapi.py, a spectacular hook).
    path("api/v1/", include("completions_app.management_api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]
