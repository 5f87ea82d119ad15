"""One list of names per setting (spire.core.choices): the CLI's choices, the HTTP
schema and the library's implementations all read it, so they cannot drift apart."""

from __future__ import annotations

import pydantic
import pytest
from typer.testing import CliRunner

from indexing.quantize import DTYPES
from retrieval.fusion import METHODS
from serving.schemas import FusionRequest
from spire.cli import app
from spire.cli.options import Fusion, Head, IdfSource, ImpactDtype, Mode, Precision
from spire.core import choices


@pytest.mark.parametrize(
    ("enum", "values"),
    [
        (Mode, choices.MODES),
        (ImpactDtype, choices.IMPACT_DTYPES),
        (Head, choices.HEADS),
        (Precision, choices.PRECISIONS),
        (Fusion, choices.FUSION_METHODS),
        (IdfSource, choices.IDF_SOURCES),
    ],
)
def test_cli_choices_are_the_library_names_in_order(enum, values):
    assert tuple(member.value for member in enum) == values


def test_implementations_cover_exactly_the_names():
    assert tuple(METHODS) == choices.FUSION_METHODS
    assert tuple(DTYPES) == choices.IMPACT_DTYPES
    assert set(choices.TORCH_PRECISIONS) < set(choices.PRECISIONS)


def test_the_http_schema_takes_the_names_and_refuses_others():
    for method in choices.FUSION_METHODS:
        assert FusionRequest(method=method).method == method
    with pytest.raises(pydantic.ValidationError):
        FusionRequest(method="borda")


def test_the_cli_refuses_a_name_outside_the_list(tmp_path):
    result = CliRunner().invoke(
        app, ["index", "corpus.jsonl", "--out", str(tmp_path / "ix"), "--head", "dense"]
    )
    assert result.exit_code == 2 and "'dense' is not one of" in result.output
