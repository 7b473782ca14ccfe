"""The references in docs/reference/ are generated from the code (docs/reference/generate.py):
each page must be what the generator writes now, or this fails naming the command to run."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

GENERATOR = Path(__file__).resolve().parent.parent / "docs" / "reference" / "generate.py"
RERUN = "docs/reference/ is behind the code: run .venv/bin/python docs/reference/generate.py"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("reference_generate", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("page", ["configuration.md", "metrics.md", "command-line.md",
                                  "alert-rules.md", "api.md", "openapi.json"])
def test_each_reference_page_is_what_the_code_says(page: str) -> None:
    render = generator().PAGES[page]
    assert (GENERATOR.parent / page).read_text(encoding="utf-8") == render(), RERUN


def test_every_configuration_key_and_catalog_path_is_on_its_page() -> None:
    from polyad.catalog import catalog
    from polyad.config import Config

    configuration = (GENERATOR.parent / "configuration.md").read_text(encoding="utf-8")
    for section in Config.model_fields:
        assert f"| `{section}" in configuration, section
    metrics = (GENERATOR.parent / "metrics.md").read_text(encoding="utf-8")
    for spec in catalog():
        assert spec.description in metrics, spec.path or spec.otel_name


def test_every_configuration_key_says_what_it_is() -> None:
    """The descriptions live in the models (attribute docstrings): they are the reference."""
    from pydantic import BaseModel

    from polyad.config import Config

    def undescribed(model: BaseModel, prefix: str = "") -> list[str]:
        found = []
        for name, field in type(model).model_fields.items():
            value = getattr(model, name)
            if isinstance(value, BaseModel):
                found += undescribed(value, f"{prefix}{name}.")
            elif not field.description:
                found.append(f"{prefix}{name}")
        return found

    assert undescribed(Config()) == []
