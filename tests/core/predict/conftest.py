"""A two-member ensemble of tiny models (seeds 1 and 2), trained once for the prediction tests."""

import pytest

from core.cli import main
from tests.conftest import _sets
from tests.testdata import EXAMPLE_PROJECT, TINY


@pytest.fixture(scope="session")
def ensemble_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("ens") / "ensemble"
    assert (
        main(
            [
                "train",
                str(EXAMPLE_PROJECT),
                "-o",
                str(out),
                "--seeds",
                "1",
                "2",
                *_sets({**TINY, "epochs": 1}),
            ]
        )
        == 0
    )
    return out
