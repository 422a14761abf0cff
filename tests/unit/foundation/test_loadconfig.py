"""loadconfig: idempotent upsert, env references, all-or-nothing validation."""

from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command

from completions_app.models import ClientKey
from completions_app.services.client_keys import client_key_hash
from providers_app.models import Model, ModelFallback, Provider, ProviderKey

EXAMPLE = Path(__file__).resolve().parents[3] / "config" / "example.yaml"


@pytest.fixture
def env_keys(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-env-1111")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-from-env-2222")


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _snapshot():
    return (
        sorted(Provider.objects.values_list("name", "kind", "base_url", "timeout_s")),
        sorted((k.provider.name, k.label, k.secret, k.weight) for k in ProviderKey.objects.all()),
        sorted(Model.objects.values_list("name", "upstream_model", "input_per_mtok", "output_per_mtok")),
        sorted(ModelFallback.objects.values_list("model__name", "fallback__name", "position")),
    )


@pytest.mark.django_db
def test_example_config_loads_twice_to_the_same_state(env_keys):
    call_command("loadconfig", str(EXAMPLE))
    first = _snapshot()
    ids = sorted(ProviderKey.objects.values_list("id", flat=True))
    call_command("loadconfig", str(EXAMPLE))
    assert _snapshot() == first
    assert sorted(ProviderKey.objects.values_list("id", flat=True)) == ids
    assert ProviderKey.objects.get(provider__name="anthropic-main").secret == "sk-ant-from-env-1111"
    gpt4 = Model.objects.get(name="gpt-4")
    assert (gpt4.input_per_mtok, gpt4.output_per_mtok) == (Decimal("30.00"), Decimal("60.00"))
    assert list(
        ModelFallback.objects.filter(model__name="claude-sonnet-4").values_list("fallback__name", flat=True)
    ) == ["claude-3-5-sonnet", "gpt-4o"]


@pytest.mark.django_db
def test_missing_env_variable_names_the_entry_and_changes_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("NOPE_KEY", raising=False)
    path = _write(
        tmp_path,
        {
            "providers": [
                {"name": "good", "kind": "ollama"},
                {"name": "bad", "kind": "openai", "keys": [{"label": "a", "secret": "os.environ/NOPE_KEY"}]},
            ]
        },
    )
    with pytest.raises(CommandError, match=r"provider 'bad'\.keys\[0\]\.secret: environment variable NOPE_KEY"):
        call_command("loadconfig", str(path))
    assert Provider.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"providers": [{"name": "x", "kind": "azure"}]}, r"provider 'x'\.kind"),
        ({"providers": [{"name": "x", "kind": "ollama", "base_url": "file:///etc/passwd"}]}, r"base_url"),
        (
            {
                "providers": [{"name": "x", "kind": "ollama"}],
                "models": [
                    {
                        "name": "m",
                        "provider": "x",
                        "upstream_model": "u",
                        "input_per_mtok": "abc",
                        "output_per_mtok": "1",
                    }
                ],
            },
            r"model 'm'\.input_per_mtok",
        ),
        (
            {
                "providers": [{"name": "x", "kind": "ollama"}],
                "models": [
                    {"name": "m", "provider": "x", "upstream_model": "u", "input_per_mtok": 0.1, "output_per_mtok": "1"}
                ],
            },
            r"strings",
        ),
        (
            {
                "providers": [{"name": "x", "kind": "ollama"}],
                "models": [
                    {
                        "name": "m",
                        "provider": "x",
                        "upstream_model": "u",
                        "input_per_mtok": "1",
                        "output_per_mtok": "1",
                        "fallbacks": ["ghost"],
                    }
                ],
            },
            r"model 'm'\.fallbacks: unknown model 'ghost'",
        ),
        ({"providers": [{"name": "x", "kind": "ollama", "colour": "red"}]}, r"unknown field\(s\) colour"),
        (
            {
                "models": [
                    {
                        "name": "m",
                        "provider": "nowhere",
                        "upstream_model": "u",
                        "input_per_mtok": "1",
                        "output_per_mtok": "1",
                    }
                ]
            },
            r"model 'm'\.provider",
        ),
        ({"providers": [{"name": "x", "kind": "openai"}]}, r"provider 'x'\.keys"),
        (
            {"providers": [{"name": "x", "kind": "ollama", "base_url": "https://user:hunter2@llm.example.com/v1"}]},
            r"provider 'x'\.base_url: Must not contain credentials",
        ),
        (
            {"providers": [{"name": "x", "kind": "ollama", "base_url": "https://:hunter2@llm.example.com"}]},
            r"provider 'x'\.base_url: Must not contain credentials",
        ),
        ({"providers": [{"name": "x", "kind": "ollama", "base_url": "ftp://llm.example.com/"}]}, r"'x'\.base_url"),
        ({"providers": [{"name": "x", "kind": "ollama", "base_url": "https:///v1"}]}, r"'x'\.base_url: Must name"),
        ({"providers": [{"name": "x", "kind": "ollama", "base_url": 8080}]}, r"'x'\.base_url: must be a string"),
        (
            {
                "providers": [{"name": "x", "kind": "ollama"}],
                "models": [
                    {
                        "name": "m",
                        "provider": "x",
                        "upstream_model": "u",
                        "input_per_mtok": "1",
                        "output_per_mtok": "1",
                        "cache_shared": "true",
                    }
                ],
            },
            r"model 'm'\.cache_shared: must be true or false",
        ),
        (
            {
                "providers": [{"name": "x", "kind": "ollama"}],
                "models": [
                    {
                        "name": "m",
                        "provider": "x",
                        "upstream_model": "u",
                        "input_per_mtok": "1",
                        "output_per_mtok": "1",
                        "cache_shared": 1,
                    }
                ],
            },
            r"model 'm'\.cache_shared: must be true or false",
        ),
    ],
)
def test_invalid_files_fail_naming_the_field_and_change_nothing(tmp_path, data, message):
    # A valid provider first: proves the transaction leaves nothing half-written.
    data = {**data, "providers": [{"name": "ok-one", "kind": "ollama"}, *data.get("providers", [])]}
    with pytest.raises(CommandError, match=message) as raised:
        call_command("loadconfig", str(_write(tmp_path, data)))
    assert "hunter2" not in str(raised.value)  # a refused URL's password is not echoed
    assert Provider.objects.count() == 0
    assert Model.objects.count() == 0


@pytest.mark.django_db
def test_clients_are_stored_hashed_and_reloading_keeps_them(tmp_path, monkeypatch):
    monkeypatch.setenv("CI_KEY", "aip_ci_key_value_123456789")
    data = {
        "providers": [{"name": "x", "kind": "ollama"}],
        "models": [
            {"name": "m", "provider": "x", "upstream_model": "u", "input_per_mtok": "0", "output_per_mtok": "0"}
        ],
        "clients": [{"name": "ci-bot", "key": "os.environ/CI_KEY", "models": ["m"]}],
    }
    path = _write(tmp_path, data)
    call_command("loadconfig", str(path))
    call_command("loadconfig", str(path))
    row = ClientKey.objects.get(name="ci-bot")
    assert row.key_hash == client_key_hash("aip_ci_key_value_123456789")
    assert list(row.allowed_models.values_list("name", flat=True)) == ["m"]


@pytest.mark.django_db
def test_cache_shared_round_trips_and_defaults_to_per_client(tmp_path):
    model = {"name": "m", "provider": "x", "upstream_model": "u", "input_per_mtok": "0", "output_per_mtok": "0"}
    data = {"providers": [{"name": "x", "kind": "ollama", "base_url": "https://llm.example.com:8443/v1"}]}
    literal = tmp_path / "literal.yaml"
    literal.write_text(
        "providers:\n  - {name: x, kind: ollama}\n"
        "models:\n  - name: m\n    provider: x\n    upstream_model: u\n"
        '    input_per_mtok: "0"\n    output_per_mtok: "0"\n    cache_shared: true\n'
    )
    call_command("loadconfig", str(literal))  # spelled as docs/configuration.md shows it
    assert Model.objects.get(name="m").cache_shared is True
    call_command("loadconfig", str(_write(tmp_path, {**data, "models": [{**model, "cache_shared": False}]})))
    assert Model.objects.get(name="m").cache_shared is False
    call_command("loadconfig", str(_write(tmp_path, {**data, "models": [{**model, "name": "n"}]})))
    assert Model.objects.get(name="n").cache_shared is False
    assert Provider.objects.get(name="x").base_url == "https://llm.example.com:8443/v1"


def test_unreadable_or_broken_yaml(tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        call_command("loadconfig", str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("providers: [unclosed")
    with pytest.raises(CommandError, match="not valid YAML"):
        call_command("loadconfig", str(bad))
