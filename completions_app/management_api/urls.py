"""/api/v1/: the resource names are part of the contract (DESIGN.md)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from .clients import ClientKeyViewSet, TeamViewSet
from .llm_models import ModelViewSet
from .providers import ProviderKeyViewSet, ProviderViewSet
from .records import RecordViewSet, SummaryView

router = SimpleRouter(trailing_slash="")  # the contract's names: /api/v1/providers, /api/v1/client-keys/{id}/rotate
router.register("providers", ProviderViewSet, basename="provider")
router.register("provider-keys", ProviderKeyViewSet, basename="provider-key")
router.register("models", ModelViewSet, basename="model")
router.register("teams", TeamViewSet, basename="team")
router.register("client-keys", ClientKeyViewSet, basename="client-key")
router.register("records", RecordViewSet, basename="record")

urlpatterns = [
    path("costs/summary", SummaryView.as_view(), name="cost-summary"),
    path("", include(router.urls)),
]
