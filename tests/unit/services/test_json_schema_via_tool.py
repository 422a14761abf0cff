"""Model.json_schema_via_tool: set in the YAML config or the admin, carried by the catalog,
and put into the request's ChatOptions for the model that serves it (the anthropic adapter
then sends json_schema as a forced tool; tests/unit/adapters/test_anthropic_tools.py)."""

import pytest

from completions_app.services.catalog import catalog_load
from completions_app.services.completion import _chat_request
from completions_app.services.config_load import ConfigError, config_load
from completions_app.services.types import CompletionInput
from providers_app.adapters.types import ChatOptions, Message, ResponseFormat
from providers_app.models import Model
from tests.factories import model_create, provider_create

SCHEMA = ResponseFormat("json_schema", name="person", schema={"type": "object"})


@pytest.mark.django_db
def test_the_catalog_carries_the_flag_and_the_request_gets_it():
    p = provider_create("claude", "anthropic", "http://127.0.0.1:1")
    model_create("old-claude", p)
    model_create("new-claude", p)
    Model.objects.filter(name="old-claude").update(json_schema_via_tool=True)
    catalog = catalog_load()
    old, new = catalog.models["old-claude"], catalog.models["new-claude"]
    assert (old.json_schema_via_tool, new.json_schema_via_tool) == (True, False)

    inp = CompletionInput(
        model="old-claude", messages=(Message("user", "hi"),), options=ChatOptions(response_format=SCHEMA)
    )
    assert _chat_request(old, inp).options == ChatOptions(response_format=SCHEMA, json_schema_via_tool=True)
    assert _chat_request(new, inp).options is inp.options  # untouched
    plain = CompletionInput(model="old-claude", messages=(Message("user", "hi"),))
    assert _chat_request(old, plain).options is None  # plain text stays plain


def _config(**model: object) -> dict:
    return {
        "providers": [{"name": "claude", "kind": "anthropic", "keys": [{"label": "k", "secret": "sk-ant-test-0001"}]}],
        "models": [
            {
                "name": "old-claude",
                "provider": "claude",
                "upstream_model": "claude-x",
                "input_per_mtok": 1,
                "output_per_mtok": 2,
                **model,
            }  # fmt: skip
        ],
    }


@pytest.mark.django_db
def test_the_yaml_config_sets_the_flag():
    config_load(data=_config(json_schema_via_tool=True))
    assert Model.objects.get(name="old-claude").json_schema_via_tool is True
    config_load(data=_config())
    assert Model.objects.get(name="old-claude").json_schema_via_tool is False  # the default
    with pytest.raises(ConfigError, match="json_schema_via_tool"):
        config_load(data=_config(json_schema_via_tool="yes"))
