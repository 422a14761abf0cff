"""Provider secrets are encrypted at rest; client keys are stored only as hashes."""

import subprocess
import sys

import pytest
from django.db import connection

from completions_app.models import ClientKey
from completions_app.services.client_keys import client_key_hash
from providers_app.models import ProviderKey
from tests.factories import client_create, provider_create

SECRET = "sk-live-THIS-IS-SECRET-abcd"


@pytest.mark.django_db
def test_provider_secret_is_ciphertext_in_the_raw_column():
    provider_create("p", "openai", "http://127.0.0.1:1/v1", keys=(SECRET,))
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret, secret_tail FROM providers_app_providerkey")
        raw, tail = cursor.fetchone()
    assert SECRET not in raw
    assert "THIS-IS-SECRET" not in raw
    assert raw.startswith("fernet:")
    assert tail == "…abcd"
    assert ProviderKey.objects.get().secret == SECRET


@pytest.mark.django_db
def test_client_key_only_hash_stored():
    plaintext = client_create("ci")
    row = ClientKey.objects.get(name="ci")
    assert row.key_hash == client_key_hash(plaintext)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM completions_app_clientkey")
        raw_row = cursor.fetchone()
    assert all(plaintext not in str(col) for col in raw_row)
    assert row.prefix == plaintext[:8]


def _django_setup(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE','aiproxy.settings'); django.setup()",
        ],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_development_secrets():
    result = _django_setup({"DEBUG": "0", "ALLOWED_HOSTS": "gw.example.com"})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr and "FIELD_ENCRYPTION_KEY" in result.stderr


def test_production_starts_with_real_secrets():
    result = _django_setup(
        {"DEBUG": "0", "ALLOWED_HOSTS": "gw.example.com", "SECRET_KEY": "x" * 40, "FIELD_ENCRYPTION_KEY": "y" * 40}
    )
    assert result.returncode == 0, result.stderr
