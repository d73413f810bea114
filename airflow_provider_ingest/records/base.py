"""What every record shares: strict validation, a ``kind`` naming its type, and a name to report it by."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    """Strict model: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=False, use_enum_values=False)


class BaseRecord(Model):
    """A record: one line of a staged file, named by ``fqn`` in reports and dead letters."""

    kind: str

    @property
    def fqn(self) -> str:
        """The name reports and dead letters give the record."""
        raise NotImplementedError
