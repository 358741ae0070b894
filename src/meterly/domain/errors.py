"""One tree of domain errors, each with a stable snake_case code.

The API layer maps them to Lago's error bodies in one place:
ValidationFailed -> 422 validation_errors, NotFound -> 404 <resource>_not_found,
NotAllowed -> 405 <code>.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class DomainError(Exception):
    """Base of every error the billing rules raise on purpose."""

    code: str = "domain_error"

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        if code is not None:
            self.code = code
        super().__init__(message or self.code)


class ValidationFailed(DomainError):
    """Bad input: `details` maps a field to Lago's error codes (`{"rate": ["invalid_rate"]}`)."""

    code = "validation_errors"

    def __init__(self, details: Mapping[str, Sequence[str] | object]) -> None:
        self.details: dict[str, object] = {
            k: list(v) if isinstance(v, list | tuple) else v for k, v in details.items()
        }
        super().__init__(f"validation failed: {self.details}")

    @classmethod
    def field(cls, name: str, code: str) -> ValidationFailed:
        return cls({name: [code]})


class NotFound(DomainError):
    """A resource that does not exist (or belongs to another organization)."""

    def __init__(self, resource: str) -> None:
        self.resource = resource
        super().__init__(f"{resource} not found", code=f"{resource}_not_found")


class NotAllowed(DomainError):
    """The resource exists but its state forbids the action (Lago answers 405)."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code, code=code)


class FloatRejected(ValidationFailed):
    """Money and quantities never come from binary floats."""

    def __init__(self, field: str = "amount") -> None:
        super().__init__({field: ["float_not_allowed"]})
