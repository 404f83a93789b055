"""Labeled frames with their context frames t-2..t+2, on the real toy data and on made-up folders."""

import logging
import shutil

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.config import load_project, load_train_config
from core.data.augment import resize_frame
from core.data.images import read_rgb
from core.data.labeled_frames import (
    LabeledFrames,
    context_paths,
    load_project_labels,
    read_window,
    split_frames,
)
from core.errors import LabelFormatError
from tests.testdata import EXAMPLE_PROJECT, TINY, TOY


def _names(paths):
    return [p.name for p in paths]


def test_toy_data_context_frames_are_the_neighbouring_files():
    # The toy folder holds img00..img92 and labels img01..img90. Its files are not consecutive video
    # frames (neighbouring files differ as much as distant ones), so the toy data gives the context
    # model no real temporal context; img00, img91 and img92 are copies of img01 and img90.
    folder = TOY / "labeled-data"
    assert np.array_equal(read_rgb(folder / "img00.png"), read_rgb(folder / "img01.png"))
    assert np.array_equal(read_rgb(folder / "img92.png"), read_rgb(folder / "img90.png"))
    assert _names(context_paths(folder / "img05.png")) == [f"img0{n}.png" for n in range(3, 8)]
    assert _names(context_paths(folder / "img90.png")) == [f"img{n}.png" for n in range(88, 93)]
    # img-1 does not exist: the centre frame stands in
    assert _names(context_paths(folder / "img01.png")) == [
        "img01.png",
        "img00.png",
        "img01.png",
        "img02.png",
        "img03.png",
    ]


def test_missing_neighbours_are_replaced_by_the_centre_frame(tmp_path):
    for n in (7, 8, 10):
        (tmp_path / f"img{n:08d}.png").touch()
    (tmp_path / "img9.png").touch()  # another zero-padding width: not a neighbour
    assert _names(context_paths(tmp_path / "img00000008.png")) == [
        "img00000008.png",
        "img00000007.png",
        "img00000008.png",
        "img00000008.png",
        "img00000010.png",
    ]
    (tmp_path / "frame.png").touch()
    assert _names(context_paths(tmp_path / "frame.png")) == ["frame.png"] * 5


def test_a_context_item_holds_the_five_frames_at_the_model_size():
    project = load_project(EXAMPLE_PROJECT)
    (labels,) = load_project_labels(project)
    train = load_train_config(None, {**TINY, "model_type": "context", "augmentation": "none"})
    row = labels.index.index("labeled-data/img05.png")
    item = LabeledFrames(project, [labels], np.array([row]), train, augment=False)[0]
    assert item["image"].shape == (5, 64, 64, 3)
    for i, n in enumerate(range(3, 8)):
        expected, _ = resize_frame(
            read_rgb(TOY / "labeled-data" / f"img{n:02d}.png"), np.zeros((0, 2)), 64, 64
        )
        np.testing.assert_array_equal(item["image"][i].numpy(), expected)
    single = LabeledFrames(
        project, [labels], np.array([row]), train.model_copy(update={"model_type": "heatmap"}), False
    )[0]
    np.testing.assert_array_equal(item["image"][2].numpy(), single["image"].numpy())
    np.testing.assert_array_equal(item["keypoints"].numpy(), single["keypoints"].numpy())
    # the frame's own size (396 x 406 px), to map model-input pixels back to it
    assert item["frame_size"].tolist() == single["frame_size"].tolist() == [396, 406]


def test_augmentation_and_flips_treat_the_five_frames_alike(tmp_path):
    """With five identical neighbour files, every augmented frame of an item must be identical."""
    project = load_project(EXAMPLE_PROJECT)
    data = tmp_path / "data"
    (data / "labeled-data").mkdir(parents=True)
    (labels,) = load_project_labels(project)
    for n in range(3, 8):
        shutil.copy(TOY / "labeled-data" / "img05.png", data / "labeled-data" / f"img{n:02d}.png")
    moved = project.model_copy(update={"data_dir": data, "flip_pairs": [("paw1LH_top", "paw4RH_top")]})
    train = load_train_config(None, {**TINY, "model_type": "context", "flip": True})
    frames = LabeledFrames(
        moved, [labels], np.array([labels.index.index("labeled-data/img05.png")]), train, augment=True
    )
    seen = set()
    for _ in range(12):
        image = frames[0]["image"].numpy()
        assert all(np.array_equal(image[0], image[i]) for i in range(1, 5))
        seen.add(image[2].tobytes())
    assert len(seen) > 1, "the augmentation is random"


def test_frames_without_neighbours_are_reported(tmp_path, caplog):
    project = load_project(EXAMPLE_PROJECT)
    (labels,) = load_project_labels(project)
    rows = np.array([labels.index.index(f"labeled-data/img{n:02d}.png") for n in (1, 5)])
    train = load_train_config(None, {**TINY, "model_type": "context"})
    with caplog.at_level(logging.WARNING):
        LabeledFrames(project, [labels], rows, train, augment=False)
    assert (
        "1 of 2 labeled frames lack some of their context frames" in caplog.text
        and "img01.png" in caplog.text
    )


def test_context_frames_of_another_size_are_refused(tmp_path):
    image = read_rgb(TOY / "labeled-data" / "img05.png")
    cv2.imwrite(str(tmp_path / "img05.png"), image)
    cv2.imwrite(str(tmp_path / "img06.png"), image[:100])
    with pytest.raises(LabelFormatError, match="differ in size"):
        read_window(context_paths(tmp_path / "img05.png"))


def _sets(split: dict[str, np.ndarray], images: list[str]) -> dict[str, str]:
    return {images[row]: name for name, rows in split.items() for row in rows}


@given(
    n=st.integers(3, 300),
    added=st.integers(0, 30),
    seed=st.integers(0, 10),
    fractions=st.sampled_from([(0.8, 0.1), (0.6, 0.2), (0.9, 0.05), (0.7, 0.3)]),
)
def test_adding_frames_moves_few_frames_between_splits(n, added, seed, fractions) -> None:
    images = [f"labeled-data/run/img{i:04d}.png" for i in range(n + added)]
    before = split_frames(images[:n], *fractions, seed)
    after = split_frames(images, *fractions, seed)
    assert sorted(np.concatenate(list(before.values()))) == list(range(n))  # every row once
    train, val = fractions
    assert len(before["train"]) == max(1, round(train * n))
    assert len(before["validation"]) >= 1 or len(before["train"]) == n  # one when there is one left
    was, now = _sets(before, images), _sets(after, images)
    moved = [image for image in was if was[image] != now[image]]
    # each added frame displaces at most one frame at each of the two boundaries; the sizes' rounding one more
    assert len(moved) <= 2 * added + 2


def test_the_split_is_seeded_and_does_not_follow_the_rows_order() -> None:
    images = [f"labeled-data/run/img{i:04d}.png" for i in range(90)]
    split = split_frames(images, 0.8, 0.1, 0)
    assert {k: len(v) for k, v in split.items()} == {"train": 72, "validation": 9, "test": 9}
    assert split_frames(images, 0.8, 0.1, 0)["test"].tolist() == split["test"].tolist()  # reproducible
    assert split_frames(images, 0.8, 0.1, 1)["test"].tolist() != split["test"].tolist()
    shuffled = images[::-1]  # the same frames in another order keep their splits
    assert _sets(split_frames(shuffled, 0.8, 0.1, 0), shuffled) == _sets(split, images)


@pytest.mark.parametrize("model_type", ["heatmap", "context"])
def test_images_are_decoded_once_and_augmentation_leaves_the_kept_copy_alone(monkeypatch, model_type):
    project = load_project(EXAMPLE_PROJECT)
    (labels,) = load_project_labels(project)
    train = load_train_config(None, {**TINY, "model_type": model_type, "augmentation": "default"})
    reads = []
    monkeypatch.setattr(
        "core.data.labeled_frames.read_rgb", lambda path: reads.append(path.name) or read_rgb(path)
    )
    frames = LabeledFrames(project, [labels], np.arange(6), train, augment=True)
    [frames[i] for i in range(6)]
    first_epoch, kept = list(reads), {i: image.copy() for i, image in frames.decoded.items()}
    assert len(kept) == 6 and len(first_epoch) == (6 if model_type == "heatmap" else 30)
    for _ in range(2):
        [frames[i] for i in range(6)]
    assert reads == first_epoch  # nothing read again
    for i, image in kept.items():  # augmentation changed copies only
        np.testing.assert_array_equal(frames.decoded[i], image)

    monkeypatch.setattr("core.data.labeled_frames.DECODED_BYTES", 0)  # past the budget: read each time
    reads.clear()
    unkept = LabeledFrames(project, [labels], np.arange(6), train, augment=True)
    for _ in range(2):
        [unkept[i] for i in range(6)]
    assert len(reads) == 2 * len(first_epoch) and not unkept.decoded
