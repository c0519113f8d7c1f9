"""Management commands are thin wrappers; they need Django settings but no database."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from tests.images import png_bytes

from .conftest import synthetic_spine


def test_classify_reports_good_corrupt_and_missing_files(tiny_checkpoint_path, tmp_path):
    good = tmp_path / "good, film.png"
    good.write_bytes(png_bytes(pixels=synthetic_spine(True, 50)))
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    missing = tmp_path / "missing.png"
    out = io.StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("classify", str(good), str(corrupt), str(missing), checkpoint=str(tiny_checkpoint_path),
                     gradcam_dir=str(tmp_path / "cams"), stdout=out)
    assert excinfo.value.returncode != 0
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["path"] for line in lines] == [str(good), str(corrupt), str(missing)]
    assert set(lines[0]) >= {"label", "confidence", "probabilities", "out_of_distribution", "ood_score"}
    assert abs(sum(lines[0]["probabilities"].values()) - 1) < 1e-5
    assert "error" in lines[1] and "label" not in lines[1]
    assert "not found" in lines[2]["error"]
    assert (tmp_path / "cams").is_dir() and any((tmp_path / "cams").iterdir())


def test_classify_succeeds_when_all_inputs_are_readable(tiny_checkpoint_path, tmp_path):
    good = tmp_path / "a.png"
    good.write_bytes(png_bytes(pixels=synthetic_spine(False, 51)))
    out = io.StringIO()
    call_command("classify", str(good), checkpoint=str(tiny_checkpoint_path), stdout=out)
    assert json.loads(out.getvalue())["label"] in ("curved", "straight")


def test_classify_refuses_a_bad_checkpoint(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"nope")
    with pytest.raises(CommandError, match="cannot load checkpoint"):
        call_command("classify", "x.png", checkpoint=str(bad), stdout=io.StringIO())


def _class_folders(root):
    for folder in ("NormalFinal", "ScolFinal"):
        (root / folder).mkdir(parents=True)
        for i in range(4):
            (root / folder / f"{i}.png").write_bytes(png_bytes(pixels=synthetic_spine(folder == "ScolFinal", i)))
    return root


def test_train_then_evaluate_commands_write_checkpoint_metrics_and_plots(tmp_path):
    data = _class_folders(tmp_path / "data")
    checkpoint = tmp_path / "model.pt"
    out = io.StringIO()
    call_command("train", data=str(data), out=str(checkpoint), epochs=1, input_size=64, val_fraction=0.5,
                 label_map="NormalFinal=normal,ScolFinal=scoliosis", stdout=out, stderr=io.StringIO())
    assert checkpoint.is_file() and '"sha256"' in out.getvalue()
    report = io.StringIO()
    call_command("evaluate", checkpoint=str(checkpoint), data=str(data), out=str(tmp_path / "eval"), bootstrap=20,
                 label_map="NormalFinal=normal,ScolFinal=scoliosis", stdout=report)
    assert "accuracy" in report.getvalue() and "macro_f1" in report.getvalue()
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["n"] == 8
    assert (tmp_path / "eval" / "confusion_matrix.png").is_file()


def test_train_can_leave_out_the_platforms_evaluation_set(tmp_path, settings):
    from inference.engine import load_checkpoint
    from training.engine import samples_from_folder
    from training.runs.dataset import group_in_base_evaluation_set

    settings.TRAINING_BASE_EVALUATION_SHARE = 0.5
    data = _class_folders(tmp_path / "data")
    label_map = "NormalFinal=normal,ScolFinal=scoliosis"
    samples = samples_from_folder(data, {"NormalFinal": "normal", "ScolFinal": "scoliosis"})
    held_out = [s for s in samples if group_in_base_evaluation_set(s.group)]
    assert 0 < len(held_out) < len(samples)
    checkpoint = tmp_path / "model.pt"
    out = io.StringIO()
    call_command("train", data=str(data), out=str(checkpoint), epochs=1, input_size=64, val_fraction=0,
                 temperature=1.0, label_map=label_map, hold_out_evaluation_set=True, stdout=out, stderr=io.StringIO())
    assert f"holding out {len(held_out)} evaluation-set images" in out.getvalue()
    metadata = load_checkpoint(checkpoint).metadata
    assert metadata["data"]["n_train"] == len(samples) - len(held_out)
    assert "TRAINING_BASE_EVALUATION_SHARE=0.5" in metadata["evaluation_set"]
