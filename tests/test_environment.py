"""The tests see a clean environment: no ``HPSEARCH_*`` variable of the developer's shell
changes what Settings, the CLI or the server processes read."""

from __future__ import annotations

import os

from app.config import Settings


def test_no_hpsearch_variable_reaches_the_tests():
    assert [name for name in os.environ if name.startswith("HPSEARCH_")] == []


def test_settings_start_from_their_defaults():
    defaults = Settings.model_fields
    settings = Settings()
    assert settings.lease_seconds == defaults["lease_seconds"].default
    assert settings.database_url == defaults["database_url"].default
