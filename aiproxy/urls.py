from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    # Before admin/: the admin's catch-all view would otherwise answer /admin/finance/.
    path("admin/finance/", include("metrics_app.urls")),
    path("admin/", admin.site.urls),
    path("v1/", include("completions_app.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]
