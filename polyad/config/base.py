"""What every configuration section shares: strictness, and the duration and size types."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from polyad.units import parse_duration, parse_size

__all__ = ["Bytes", "Seconds", "SecondsOrZero", "Section"]

Seconds = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]
SecondsOrZero = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
Bytes = Annotated[int, BeforeValidator(parse_size), Field(gt=0)]


class Section(BaseModel):
    """Unknown keys are errors: a typo must not silently keep a default."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)
