"""Django's model permissions decide: `view_*` to read, `add_/change_/delete_*` to write.

Tokens' users and staff users alike get them from their group (`admin`, `finance`) or,
for a superuser, all of them. Extra actions name theirs (`rotate` changes a client key;
`prices` views a model's price history: the view's `action_models`). Views without a
queryset (the summary) name their model in `permission_model`.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model as DjangoModel
from rest_framework.permissions import DjangoModelPermissions
from rest_framework.request import Request

ACTION_PERMS = {"rotate": "change", "prices": "view"}


class ModelPermissions(DjangoModelPermissions):
    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request: Request, view: Any) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False  # DRF answers 401: the authenticator names a scheme
        view_action = getattr(view, "action", "") or ""
        model: type[DjangoModel] = (
            getattr(view, "action_models", {}).get(view_action)
            or getattr(view, "permission_model", None)
            or self._queryset(view).model
        )
        action = ACTION_PERMS.get(view_action)
        if action is not None:
            perms = [f"{model._meta.app_label}.{action}_{model._meta.model_name}"]
        else:
            perms = self.get_required_permissions(request.method, model)
        return request.user.has_perms(perms)
