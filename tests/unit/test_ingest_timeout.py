"""METERLY_INGEST_TIMEOUT: how long an event request waits to be stored (issue 20)."""

from __future__ import annotations

import pytest

from meterly.api.ingestion import DEFAULT_TIMEOUT, TIMEOUT_VARIABLE, ingest_timeout


def test_a_few_seconds_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TIMEOUT_VARIABLE, raising=False)
    assert ingest_timeout() == DEFAULT_TIMEOUT == 5.0


def test_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TIMEOUT_VARIABLE, "2.5")
    assert ingest_timeout() == 2.5


@pytest.mark.parametrize("text", ["0", "-1", "301", "nan", "inf", "soon"])
def test_no_wait_unbounded_or_nonsense_is_refused(
    monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.setenv(TIMEOUT_VARIABLE, text)
    with pytest.raises(ValueError):
        ingest_timeout()
