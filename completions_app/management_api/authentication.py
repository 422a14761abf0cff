"""Who is calling /api/v1/: a management token (`Authorization: Bearer aipm_…`) or a staff
session (the admin's login, with CSRF on writes). Client keys (`aip_…`) are not accepted."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, SessionAuthentication, get_authorization_header
from rest_framework.request import Request

from completions_app.services.management_tokens import management_token_user

WWW_AUTHENTICATE = 'Bearer realm="management-api"'


class ManagementTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <management token>`; any other bearer value is a 401."""

    def authenticate(self, request: Request) -> tuple[AbstractBaseUser, None] | None:
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None  # no token: maybe a session
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization must be `Bearer <management token>`.")
        try:
            presented = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid management token.") from None
        user = management_token_user(presented)
        if user is None:
            # The same answer for a client key, a revoked token and junk: nothing to learn from it.
            raise exceptions.AuthenticationFailed("Invalid management token.")
        return user, None

    def authenticate_header(self, request: Request) -> str:
        return WWW_AUTHENTICATE  # makes DRF answer 401 (not 403) to the unauthenticated


class StaffSessionAuthentication(SessionAuthentication):
    """The admin's session, for staff users only; unsafe methods need the CSRF token."""

    def authenticate(self, request: Request) -> tuple[AbstractBaseUser, None] | None:
        result = super().authenticate(request)
        if result is None or not result[0].is_staff:
            return None
        return result


class ManagementTokenScheme(OpenApiAuthenticationExtension):
    target_class = ManagementTokenAuthentication
    name = "ManagementToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A management token (`manage.py createmanagementtoken NAME --role admin|finance`): "
            "`Authorization: Bearer aipm_…`.",
        }


class StaffSessionScheme(OpenApiAuthenticationExtension):
    target_class = StaffSessionAuthentication
    name = "StaffSession"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "cookie", "name": "sessionid", "description": "A staff user's admin login."}
