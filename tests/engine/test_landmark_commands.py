"""``measure`` and ``train_landmarks`` are thin wrappers; they need Django settings but no database."""

from __future__ import annotations

import csv
import hashlib
import io
import json

import pytest
from django.core.management import CommandError, call_command

from .landmark_fixtures import film_sample, tiny_landmark_run_fixture  # noqa: F401 - fixture


@pytest.fixture
def landmark_checkpoint(tiny_landmark_run, tmp_path):
    path = tmp_path / "landmarks.pt"
    path.write_bytes(tiny_landmark_run[2])
    return path


def test_measure_prints_one_line_per_file_and_fails_on_unreadable_ones(landmark_checkpoint, tmp_path):
    good = tmp_path / "film, AP.png"
    good.write_bytes(film_sample(7).read())
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    out = io.StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("measure", str(good), str(corrupt), checkpoint=str(landmark_checkpoint), stdout=out)
    assert excinfo.value.returncode != 0
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["path"] for line in lines] == [str(good), str(corrupt)]
    assert set(lines[0]) == {"path", "cobb", "largest", "landmarks", "not_measured"}
    assert set(lines[0]["cobb"]) == {"pt", "mt", "tl"}
    if lines[0]["not_measured"] is None:
        assert len(lines[0]["landmarks"]) == 68 and lines[0]["largest"]["upper"].startswith(("T", "L"))
    else:
        assert lines[0]["landmarks"] is None and lines[0]["cobb"]["pt"] is None
    assert set(lines[1]) == {"path", "error"}


def test_measure_says_not_measured_for_a_declared_lateral_film(landmark_checkpoint, tmp_path):
    film = tmp_path / "lateral.png"
    film.write_bytes(film_sample(8).read())
    out = io.StringIO()
    call_command("measure", str(film), checkpoint=str(landmark_checkpoint), view_position="LL", stdout=out)
    line = json.loads(out.getvalue())
    assert line["not_measured"] == "lateral view"
    assert line["cobb"] == {"pt": None, "mt": None, "tl": None} and line["landmarks"] is None


def test_measure_refuses_a_classifier_checkpoint(tiny_checkpoint_path):
    with pytest.raises(CommandError, match="cannot load landmark checkpoint"):
        call_command("measure", "x.png", checkpoint=str(tiny_checkpoint_path), stdout=io.StringIO())


def labelled_folder(tmp_path):
    """Three synthetic films in the labels.csv layout, one fold each."""
    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    with open(data / "labels.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "group", "fold"] + [f"x{i}" for i in range(68)] + [f"y{i}" for i in range(68)])
        for seed in range(3):
            sample = film_sample(seed)
            (data / "images" / f"{seed}.png").write_bytes(sample.read())
            writer.writerow([f"images/{seed}.png", f"p{seed}", seed]
                            + list(sample.points[:, 0]) + list(sample.points[:, 1]))
    return data


def test_train_landmarks_writes_a_loadable_checkpoint(tmp_path):
    data = labelled_folder(tmp_path)
    out_path = tmp_path / "lm.pt"
    out = io.StringIO()
    call_command("train_landmarks", data=str(data), out=str(out_path), minutes=0.05, hold_out_fold=2,
                 input_size=128, input_width=64, val_fraction=0, batch_size=2, severe_repeat=3, stdout=out)
    summary = json.loads(out.getvalue().splitlines()[-1])
    assert summary["checkpoint"] == str(out_path) and out_path.is_file()
    from inference.engine import LandmarkPredictor

    predictor = LandmarkPredictor.from_checkpoint(out_path)
    assert predictor.metadata["held_out_fold"] == 2 and predictor.metadata["training"]["n_train"] == 2
    assert predictor.metadata["training"]["severe_repeat"] == 3


def test_train_landmarks_warm_starts_from_an_earlier_checkpoint(landmark_checkpoint, tmp_path):
    from inference.engine import LandmarkPredictor

    out_path = tmp_path / "warm.pt"
    call_command("train_landmarks", data=str(labelled_folder(tmp_path)), out=str(out_path), minutes=0.01,
                 input_size=128, input_width=64, head_width=16, val_fraction=0, batch_size=2, lr=1e-4,
                 init_from=str(landmark_checkpoint), stdout=io.StringIO())
    training = LandmarkPredictor.from_checkpoint(out_path).metadata["training"]
    assert training["init_checkpoint"] == str(landmark_checkpoint) and training["lr"] == 1e-4
    assert training["init_checkpoint_sha256"] == hashlib.sha256(landmark_checkpoint.read_bytes()).hexdigest()


def test_train_landmarks_refuses_a_missing_or_mismatched_init_checkpoint(landmark_checkpoint, tmp_path):
    data = labelled_folder(tmp_path)
    with pytest.raises(CommandError, match="no checkpoint"):
        call_command("train_landmarks", data=str(data), init_from=str(tmp_path / "absent.pt"), stdout=io.StringIO())
    with pytest.raises(CommandError, match="cannot warm-start"):  # the tiny model's head is 16 wide, not 96
        call_command("train_landmarks", data=str(data), out=str(tmp_path / "x.pt"), minutes=0.01, input_size=128,
                     input_width=64, val_fraction=0, init_from=str(landmark_checkpoint), stdout=io.StringIO())
