"""Project images predicted by one model, and by an ensemble (the members' median)."""

from __future__ import annotations

import numpy as np

from core.predict.ensemble import resolve_members
from core.predict.labeled_frames import predict_image_table
from tests.testdata import TOY

IMAGES = ["labeled-data/img02.png", "labeled-data/img13.png", "labeled-data/img48.png"]


def test_an_ensemble_predicts_images_as_its_members_median(ensemble_dir) -> None:
    first, second = resolve_members(ensemble_dir)
    seen = []
    tables = [predict_image_table([m], TOY, IMAGES, m.name) for m in (first, second)]
    both = predict_image_table([first, second], TOY, IMAGES, "ens", progress=lambda *a: seen.append(a))
    assert seen == [(1, 2), (2, 2)]
    assert both.index == IMAGES and both.scorer == "ens" and both.fields == ("x", "y", "likelihood")
    assert tables[0].keypoints == both.keypoints and len(both.keypoints) == 17
    np.testing.assert_allclose(both.xy, (tables[0].xy + tables[1].xy) / 2, atol=1e-9)  # 2 members
    np.testing.assert_allclose(
        both.field("likelihood"), (tables[0].field("likelihood") + tables[1].field("likelihood")) / 2
    )
    assert np.isfinite(both.values).all()
