"""OpenAPI documentation of the API's shapes (drf-spectacular reads these).

Parsing itself is done by api/parsing.py, strictly and without DRF's
serializer overhead on the hot path; these classes describe the same fields.
"""

from rest_framework import serializers as s

ERROR_STATUSES = (400, 401, 403, 404, 413, 429, 502, 503, 504)


class MessageSchema(s.Serializer):
    role = s.ChoiceField(choices=["system", "user", "assistant"])
    content = s.CharField(allow_blank=True)


class CompleteRequest(s.Serializer):
    model = s.CharField(help_text="A model name from GET /v1/models.")
    prompt = s.CharField(required=False, help_text="A single user message; or send `messages`.")
    messages = MessageSchema(many=True, required=False)
    max_tokens = s.IntegerField(required=False, min_value=1, max_value=1_000_000)
    temperature = s.FloatField(required=False, min_value=0, max_value=2)
    top_p = s.FloatField(required=False, min_value=0, max_value=1)
    stop = s.ListField(child=s.CharField(), required=False, max_length=16, help_text="A string or a list of strings.")
    stream = s.BooleanField(required=False, default=False, help_text="Answer with Server-Sent Events.")
    cache = s.BooleanField(required=False, default=True, help_text="false: bypass the response cache.")
    user = s.CharField(required=False, max_length=256)


class UsageSchema(s.Serializer):
    input_tokens = s.IntegerField()
    output_tokens = s.IntegerField()
    cache_read_tokens = s.IntegerField()
    cache_write_tokens = s.IntegerField()


class CompleteResponse(s.Serializer):
    id = s.CharField()
    text = s.CharField()
    model = s.CharField()
    served_model = s.CharField()
    provider = s.CharField()
    finish_reason = s.CharField(allow_null=True)
    usage = UsageSchema()
    usage_estimated = s.BooleanField()
    cost_usd = s.CharField(help_text="Exact decimal, as a string.")
    cached = s.BooleanField()
    latency_ms = s.FloatField()


class ErrorBody(s.Serializer):
    type = s.CharField()
    message = s.CharField()
    param = s.CharField(allow_null=True)
    code = s.CharField()


class ErrorResponse(s.Serializer):
    error = ErrorBody()


class HealthResponse(s.Serializer):
    status = s.ChoiceField(choices=["ok", "degraded"])
    database = s.BooleanField()
    cache = s.BooleanField()


class KeyStatus(s.Serializer):
    label = s.CharField()
    enabled = s.BooleanField()
    healthy = s.BooleanField(allow_null=True)
    last_probe_latency_ms = s.FloatField(allow_null=True)


class ProviderStatus(s.Serializer):
    name = s.CharField()
    kind = s.CharField()
    enabled = s.BooleanField()
    healthy = s.BooleanField(allow_null=True)
    last_probe_at = s.DateTimeField(allow_null=True)
    last_probe_latency_ms = s.FloatField(allow_null=True)
    state = s.ChoiceField(choices=["closed", "open", "half-open"])
    failures = s.IntegerField()
    keys_enabled = s.IntegerField()
    keys_cooling = s.IntegerField()
    keys = KeyStatus(many=True)


class ProviderStatusResponse(s.Serializer):
    providers = ProviderStatus(many=True)


class ChatMessage(s.Serializer):
    role = s.ChoiceField(choices=["system", "developer", "user", "assistant"])
    content = s.CharField(allow_blank=True, help_text="A string, or a list of {type: text, text} parts.")


class StreamOptions(s.Serializer):
    include_usage = s.BooleanField(required=False)


class ChatCompletionRequest(s.Serializer):
    model = s.CharField()
    messages = ChatMessage(many=True)
    max_tokens = s.IntegerField(required=False, min_value=1)
    max_completion_tokens = s.IntegerField(required=False, min_value=1)
    temperature = s.FloatField(required=False, min_value=0, max_value=2)
    top_p = s.FloatField(required=False, min_value=0, max_value=1)
    stop = s.ListField(child=s.CharField(), required=False)
    stream = s.BooleanField(required=False)
    stream_options = StreamOptions(required=False)
    user = s.CharField(required=False)
    n = s.IntegerField(required=False, min_value=1, max_value=1)
    cache = s.BooleanField(required=False)


class ChatChoice(s.Serializer):
    index = s.IntegerField()
    message = ChatMessage()
    finish_reason = s.CharField()


class ChatUsage(s.Serializer):
    prompt_tokens = s.IntegerField()
    completion_tokens = s.IntegerField()
    total_tokens = s.IntegerField()


class ChatCompletionResponse(s.Serializer):
    id = s.CharField()
    object = s.CharField()
    created = s.IntegerField()
    model = s.CharField()
    choices = ChatChoice(many=True)
    usage = ChatUsage()


class ModelEntry(s.Serializer):
    id = s.CharField()
    object = s.CharField()
    created = s.IntegerField()
    owned_by = s.CharField()


class ModelList(s.Serializer):
    object = s.CharField()
    data = ModelEntry(many=True)
