"""`validated`: a pydantic config built from values, or one BadInput line naming every bad field."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

from llmdeck.core.errors import BadInput, validated


class Limits(BaseModel):
    model_config = {"extra": "forbid"}

    rounds: int = Field(1, ge=1)
    name: str = "x"


def test_validated_builds_the_config_or_names_every_problem_in_one_line():
    assert validated(Limits, "demo", {"rounds": "3"}) == Limits(rounds=3)
    with pytest.raises(BadInput) as caught:
        validated(Limits, "demo", {"rounds": 0, "colour": "red"})
    message = str(caught.value)
    assert message.startswith("demo: rounds: Input should be greater than or equal to 1 (accepted: 1 or more);")
    assert "colour:" in message
    assert "\n" not in message
