"""What every management-API view shares: authentication, permissions, JSON only, the error
shape, cursor pagination, and writes that are one transaction with their audit entry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.models import Model as DjangoModel
from rest_framework import exceptions, viewsets
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from .audit import audit_changed, audit_created, audit_deleted
from .authentication import ManagementTokenAuthentication, StaffSessionAuthentication
from .errors import exception_handler
from .permissions import ModelPermissions


class IdCursorPagination(CursorPagination):
    """Stable pages over rows that may be added while a client pages through them."""

    ordering = "id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class ManagementView(APIView):
    authentication_classes = [ManagementTokenAuthentication, StaffSessionAuthentication]
    permission_classes = [ModelPermissions]
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]

    def get_exception_handler(self) -> Callable[[Exception, dict], Any]:
        return exception_handler

    def check_permissions(self, request: Any) -> None:
        # A method the resource does not have is a 405 (after authentication), not a 403 for
        # lacking a permission no one could use.
        method = request.method.lower()
        if method not in self.http_method_names or getattr(self, method, None) is None:
            raise exceptions.MethodNotAllowed(request.method)
        super().check_permissions(request)

    def handle_exception(self, exc: Exception) -> Any:
        # Errors are JSON, also when CSV was asked for (`?format=csv`).
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return super().handle_exception(exc)


def changed_fields(instance: DjangoModel, data: dict[str, Any], always: tuple[str, ...] = ()) -> list[str]:
    """The names in `data` whose value differs from the instance's (read before saving);
    the names in `always` (a secret: its value is never compared or shown) count when given."""
    changed = []
    for name, value in data.items():
        current = getattr(instance, name, None)
        if isinstance(value, list) and hasattr(current, "all"):  # a many-to-many: compare the members
            differs = {obj.pk for obj in current.all()} != {obj.pk for obj in value}
        else:
            differs = current != value
        if name in always or differs:
            changed.append(name)
    return changed


class ManagedViewSet(ManagementView, viewsets.ModelViewSet):
    """CRUD with an audit LogEntry per write, in the write's own transaction."""

    pagination_class = IdCursorPagination
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]
    always_changed: tuple[str, ...] = ()  # write-only fields, counted as changed whenever given

    def perform_create(self, serializer: BaseSerializer) -> None:
        with transaction.atomic():
            obj = serializer.save()
            audit_created(self.request.user, obj)

    def perform_update(self, serializer: BaseSerializer) -> None:
        with transaction.atomic():
            fields = self.fields_changing(serializer)
            obj = serializer.save()
            if fields:
                audit_changed(self.request.user, obj, fields)

    def fields_changing(self, serializer: BaseSerializer) -> list[str]:
        return changed_fields(serializer.instance, serializer.validated_data, self.always_changed)

    def perform_destroy(self, instance: DjangoModel) -> None:
        with transaction.atomic():
            audit_deleted(self.request.user, instance)  # before: the entry keeps the object's id and name
            instance.delete()
