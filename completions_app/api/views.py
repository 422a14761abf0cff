"""DRF views over the API calls, for the OpenAPI schema (/api/schema/, /api/docs/) and
Django's test client.

Requests to /v1 are served by the direct ASGI route (fast_routes.py), which calls the same
functions (native.py, openai_compat.py) without DRF; nothing here is imported on that path.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema

from . import native, openai_compat, schemas
from .base import AsyncAPIView as APIView
from .replies import django_response


class CompleteView(APIView):
    @extend_schema(
        request=schemas.CompleteRequest,
        responses={
            200: OpenApiResponse(
                schemas.CompleteResponse, description="JSON, or SSE (text/event-stream) with stream=true"
            ),
            400: schemas.ErrorResponse,
            401: schemas.ErrorResponse,
            403: schemas.ErrorResponse,
            404: schemas.ErrorResponse,
            413: schemas.ErrorResponse,
            429: schemas.ErrorResponse,
            502: schemas.ErrorResponse,
            503: schemas.ErrorResponse,
            504: schemas.ErrorResponse,
        },
        summary="Complete a prompt or conversation (native shape)",
    )
    async def post(self, request: Any) -> Any:
        return django_response(await native.complete(request._request))


class HealthView(APIView):
    @extend_schema(
        responses={200: schemas.HealthResponse, 503: schemas.HealthResponse}, summary="Liveness and dependencies"
    )
    async def get(self, request: Any) -> Any:
        return django_response(await native.health(request._request))


class ProviderStatusView(APIView):
    @extend_schema(
        responses={200: schemas.ProviderStatusResponse, 401: schemas.ErrorResponse}, summary="Breakers and keys"
    )
    async def get(self, request: Any) -> Any:
        return django_response(await native.providers_status(request._request))


class ChatCompletionsView(APIView):
    @extend_schema(
        request=schemas.ChatCompletionRequest,
        responses={200: schemas.ChatCompletionResponse, **dict.fromkeys(schemas.ERROR_STATUSES, schemas.ErrorResponse)},
        summary="OpenAI-compatible chat completions (JSON or SSE)",
    )
    async def post(self, request: Any) -> Any:
        return django_response(await openai_compat.chat_completions(request._request))


class ModelsView(APIView):
    @extend_schema(
        responses={200: schemas.ModelList, 401: schemas.ErrorResponse}, summary="Models this client key may use"
    )
    async def get(self, request: Any) -> Any:
        return django_response(await openai_compat.models_list(request._request))
