"""Bad input: one clear error naming file, row and field; nothing half-written."""

from __future__ import annotations

import numpy as np
import pytest

from xai_reports import InputError, ModelLoadError
from xai_reports.cli import main
from xai_reports.documents.case_review import generate_case_reviews


def test_nan_in_required_field_is_a_row_error(tmp_path, wdbc_model, wdbc_cases, hc_pack):
    df = wdbc_cases["frame"].head(3).copy()
    df.loc[1, "radius_mean"] = "NaN"
    df.to_csv(tmp_path / "c.csv", index=False)
    s = generate_case_reviews(wdbc_model["model"], tmp_path / "c.csv", hc_pack, tmp_path / "o", formats=["json"])
    assert s.exit_code == 3 and s.sheets == 2
    (err,) = s.errors
    assert err["row"] == 2 and err["column"] == "radius_mean" and err["id"] == "CASE-0002"
    assert "missing value" in err["message"] and "c.csv" in err["message"]
    assert not (tmp_path / "o" / "case_CASE-0002.json").exists()


def test_unknown_profile_fails_before_writing(tmp_path, wdbc_model, wdbc_cases, capsys):
    rc = main(["case-review", "--pack", "healthcare", "--model", str(wdbc_model["model"]), "--data",
               str(wdbc_cases["path"]), "--out", str(tmp_path / "o"), "--profile", "marketing", "--quiet"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "unknown print profile 'marketing'" in err and "research, treatment" in err
    assert not (tmp_path / "o").exists()


def test_cli_writes_sheets(tmp_path, wdbc_model, wdbc_cases, capsys):
    rc = main(["case-review", "--pack", "healthcare", "--model", str(wdbc_model["model"]), "--data",
               str(wdbc_cases["path"]), "--out", str(tmp_path / "o"), "--profile", "research",
               "--format", "json", "--quiet"])
    assert rc == 0, capsys.readouterr().err
    assert "6 case-review sheets (research profile" in capsys.readouterr().out
    assert len(list((tmp_path / "o").glob("case_*.json"))) == 6


def test_missing_card_is_a_clear_error(tmp_path, wdbc_model, wdbc_cases, hc_pack):
    import shutil

    shutil.copy(wdbc_model["model"], tmp_path / "m.json")
    with pytest.raises(ModelLoadError, match="model card not found"):
        generate_case_reviews(tmp_path / "m.json", wdbc_cases["path"], hc_pack, tmp_path / "o")


def test_image_model_without_images_folder(tmp_path, lesion_model, lesion_cases, hc_pack):
    with pytest.raises(InputError, match="--images"):
        generate_case_reviews(lesion_model["model"], lesion_cases["path"], hc_pack, tmp_path / "o")


def _image_case(tmp_path, lesion_cases, name, arr=None):
    from PIL import Image

    img_dir = tmp_path / "imgs"
    img_dir.mkdir(exist_ok=True)
    if arr is not None:
        Image.fromarray(arr).save(img_dir / name)
    df = lesion_cases["frame"].head(2).copy()
    df.loc[1, "image"] = name
    df.loc[0, "image"] = "ok.png"
    good = Image.open(lesion_cases["images"] / lesion_cases["frame"]["image"].iloc[0])
    good.save(img_dir / "ok.png")
    df.to_csv(tmp_path / "c.csv", index=False)
    return img_dir


@pytest.mark.parametrize("name,arr,message", [
    ("absent.png", None, "image file not found"),
    ("big.png", np.zeros((80, 64), dtype=np.uint8), "image is 64 x 80 px; the model takes 64 x 64 px"),
    ("../escape.png", None, "inside the --images folder"),
    ("junk.png", "junk", "not a readable image"),
])
def test_bad_image_is_a_row_error(tmp_path, lesion_model, lesion_cases, hc_pack, name, arr, message):
    img_dir = _image_case(tmp_path, lesion_cases, name, None if isinstance(arr, str) else arr)
    if isinstance(arr, str):
        (img_dir / name).write_bytes(b"not an image at all")
    s = generate_case_reviews(lesion_model["model"], tmp_path / "c.csv", hc_pack, tmp_path / "o",
                              images=img_dir, formats=["json"])
    assert s.sheets == 1 and s.exit_code == 3
    (err,) = s.errors
    assert err["row"] == 2 and err["column"] == "image" and message in err["message"], err


def test_pickle_weights_are_refused(tmp_path, hc_pack):
    import pickle

    from xai_reports.adapters import load_model
    from xai_reports.adapters.architectures import build_architecture
    from xai_reports.errors import UnsafeModelError

    p = tmp_path / "evil.pt"
    p.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(UnsafeModelError):
        load_model(p, architecture=lambda: build_architecture("lesion_cnn"))


def test_unknown_architecture_is_refused():
    from xai_reports.adapters.architectures import build_architecture

    with pytest.raises(ModelLoadError, match="unknown architecture 'os.system'; registered: lesion_cnn"):
        build_architecture("os.system")


def test_cli_image_model(tmp_path, lesion_model, lesion_cases, capsys):
    rc = main(["case-review", "--pack", "healthcare", "--model", str(lesion_model["model"]), "--data",
               str(lesion_cases["path"]), "--images", str(lesion_cases["images"]), "--out", str(tmp_path / "o"),
               "--profile", "treatment", "--format", "json", "--quiet"])
    assert rc == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "3 case-review sheets (treatment profile, model lesion_cnn)" in out
    assert "out of scope" in out          # the degraded demo image


def test_wdbc_training_is_deterministic(tmp_path):
    from examples.healthcare.training import train_wdbc_model

    a = train_wdbc_model(tmp_path / "a")
    b = train_wdbc_model(tmp_path / "b")
    assert a["model"].read_bytes() == b["model"].read_bytes()
    assert a["card"].read_text().replace("/a/", "/") == b["card"].read_text().replace("/b/", "/")
