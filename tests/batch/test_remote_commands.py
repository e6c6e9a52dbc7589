"""Every command with its inputs in a bucket and its outputs written to one: a real S3-compatible server
(moto in server mode, the shared ``moto_s3`` helper) on 127.0.0.1, s3fs as the client. The objects
written are byte for byte the files the same command writes locally (where its output is deterministic),
``verify`` passes on a local copy and on the URL itself, a missing object is a one-line error naming the
URL, and credentials in a URL never reach an output or a message."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
from batch_helpers import DATE, REPO, moto_s3, mixed_rows

from xai_reports.cli import main

pytest.importorskip("s3fs")
pytest.importorskip("moto.server")

BUCKET = "xai-cmds"
S3 = f"s3://{BUCKET}"
SECRET = "hunter2SECRET"


@pytest.fixture(scope="module")
def s3(batch_case, tmp_path_factory):
    """The moto server, the bucket holding a model, 12 applications (6 denied) and a labelled sample."""
    from examples.finance_hmda import load_hmda

    d = tmp_path_factory.mktemp("remote_cmds")
    rows = mixed_rows(batch_case, 6, 6, seed=3)
    rows.to_csv(d / "apps.csv", index=False)
    labelled = load_hmda().iloc[::12].reset_index(drop=True)   # 199 labelled applications
    labelled.to_csv(d / "labelled.csv", index=False)
    with moto_s3(BUCKET) as (fs, env, port):
        fs.pipe_file(f"{BUCKET}/in/hmda_xgb.json", batch_case["model"].read_bytes())
        fs.pipe_file(f"{BUCKET}/in/apps.csv", (d / "apps.csv").read_bytes())
        fs.pipe_file(f"{BUCKET}/in/labelled.csv", (d / "labelled.csv").read_bytes())
        yield {"fs": fs, "dir": d, "model": batch_case["model"], "port": port}


def _get(fs, key) -> bytes:
    fs.invalidate_cache()
    return fs.cat_file(f"{BUCKET}/{key}")


def _keys(fs, prefix) -> list[str]:
    fs.invalidate_cache()
    return sorted(k[len(f"{BUCKET}/{prefix}/"):] for k in fs.find(f"{BUCKET}/{prefix}"))


def _download(fs, prefix, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in _keys(fs, prefix):
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_bytes(_get(fs, f"{prefix}/{name}"))
    return dest


def _one_line_error(capsys, rc, url):
    out, err = capsys.readouterr()
    assert rc == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and url in lines[0], err
    assert SECRET not in out + err and "xai-reports-stage" not in err
    return lines[0]


# -- counterfactuals: inputs and the output folder ------------------------------------------------
def test_counterfactuals_from_and_to_s3_equal_the_local_run(s3, tmp_path, capsys):
    fs = s3["fs"]
    args = ["counterfactuals", "--pack", "finance_hmda_example", "--k", "1", "--quiet"]
    assert main(args + ["--model", str(s3["model"]), "--data", str(s3["dir"] / "apps.csv"),
                        "--out", str(tmp_path / "cf")]) == 0
    capsys.readouterr()
    assert main(args + ["--model", f"{S3}/in/hmda_xgb.json", "--data", f"{S3}/in/apps.csv",
                        "--out", f"{S3}/out/cf/"]) == 0
    out = capsys.readouterr().out
    assert f"{S3}/out/cf/summary.json" in out and "xai-reports-stage" not in out
    assert _keys(fs, "out/cf") == ["counterfactuals.csv", "status.csv", "summary.json"]
    for name in ("counterfactuals.csv", "status.csv"):
        assert _get(fs, f"out/cf/{name}") == (tmp_path / "cf" / name).read_bytes(), name
    got, want = json.loads(_get(fs, "out/cf/summary.json")), json.loads((tmp_path / "cf" / "summary.json").read_text())
    for q in (got["quality"], want["quality"]):   # the search's own run time
        del q["seconds"], q["seconds_per_row"]
    assert got == want
    status = pd.read_csv(tmp_path / "cf" / "status.csv")
    assert len(status) == 12 and (status["n_found"] > 0).sum() == 6   # the 6 denied rows got one each


def test_a_missing_object_or_bucket_is_one_line_and_nothing_is_written(s3, capsys):
    fs = s3["fs"]
    base = ["counterfactuals", "--pack", "finance_hmda_example", "--k", "1", "--quiet",
            "--data", f"{S3}/in/apps.csv", "--out", f"{S3}/out/cf-missing"]
    line = _one_line_error(capsys, main(base + ["--model", f"{S3}/in/nope.json"]), f"{S3}/in/nope.json")
    assert "not found" in line
    # credentials in the URL: refused by s3fs, and never printed
    _one_line_error(capsys, main(base + ["--model", f"s3://AKIDUSER:{SECRET}@{BUCKET}/in/hmda_xgb.json"]),
                    f"{S3}/in/hmda_xgb.json")
    _one_line_error(capsys, main(base[:-1] + ["s3://no-such-bucket-xai/cf", "--model", f"{S3}/in/hmda_xgb.json"]),
                    "s3://no-such-bucket-xai/cf")
    assert _keys(fs, "out/cf-missing") == []


# -- explore and letters --explorer: one HTML object ------------------------------------------------
def test_explore_and_the_letters_explorer_to_s3(s3, tmp_path, capsys):
    fs = s3["fs"]
    args = ["explore", "--pack", "finance_hmda_example"]
    assert main(args + ["--model", str(s3["model"]), "--data", str(s3["dir"] / "apps.csv"),
                        "--out", str(tmp_path / "e.html")]) == 0
    assert main(args + ["--model", f"{S3}/in/hmda_xgb.json", "--data", f"{S3}/in/apps.csv",
                        "--out", f"{S3}/out/explore/e.html"]) == 0
    assert f"written to {S3}/out/explore/e.html" in capsys.readouterr().out
    assert _get(fs, "out/explore/e.html") == (tmp_path / "e.html").read_bytes()

    _write_letters(fs)
    assert _get(fs, "out/letters-explorer/x.html") == (tmp_path / "e.html").read_bytes()
    names = _keys(fs, "out/letters")
    assert "manifest.json" in names and sum(n.endswith(".pdf") for n in names) == 6


def _write_letters(fs):
    """Letters (and their explorer) written from the bucket to the bucket, once per module's server."""
    if "manifest.json" in _keys(fs, "out/letters"):
        return
    assert main(["letters", "--pack", "finance_hmda_example", "--model", f"{S3}/in/hmda_xgb.json", "--data",
                 f"{S3}/in/apps.csv", "--out", f"{S3}/out/letters", "--date", DATE, "--workers", "0", "--quiet",
                 "--format", "json,pdf", "--explorer", f"{S3}/out/letters-explorer/x.html"]) == 0


def test_credentials_in_input_urls_reach_no_output_and_no_message(s3, tmp_path, capsys):
    """A signed URL with a user:password (the moto server answers anonymous GETs over plain HTTP, as a
    presigned URL would be answered): the explorer reads through it, and neither the password nor the
    signature is in the page, on stdout or in an error."""
    fs = s3["fs"]
    signed = f"http://AKIDUSER:{SECRET}@127.0.0.1:{s3['port']}/{BUCKET}/in/{{}}?X-Amz-Signature={SECRET}2"
    args = ["explore", "--pack", "finance_hmda_example", "--model", signed.format("hmda_xgb.json")]
    assert main(args + ["--data", signed.format("apps.csv"), "--out", f"{S3}/out/signed/e.html"]) == 0
    out, err = capsys.readouterr()
    page = _get(fs, "out/signed/e.html")
    assert SECRET.encode() not in page and b"AKIDUSER" not in page and SECRET not in out + err
    assert b"hmda_xgb.json" in page   # the model is named, by its file name only
    _one_line_error(capsys, main(args + ["--data", signed.format("nope.csv"), "--out", f"{S3}/out/signed/f.html"]),
                    f"http://127.0.0.1:{s3['port']}/{BUCKET}/in/nope.csv")
    assert _keys(fs, "out/signed") == ["e.html"]


# -- regenerate and verify on the letters just written ------------------------------------------------
def test_regenerate_and_verify_read_from_s3(s3, tmp_path, capsys):
    fs = s3["fs"]
    _write_letters(fs)
    record = next(n for n in _keys(fs, "out/letters") if n.startswith("letter_") and n.endswith(".json"))
    stem = record[:-5]
    assert main(["regenerate", f"{S3}/out/letters/{record}", "--out", f"{S3}/out/regen", "--format", "pdf"]) == 0
    assert f"{S3}/out/regen/{stem}.pdf" in capsys.readouterr().out
    assert _get(fs, f"out/regen/{stem}.pdf") == _get(fs, f"out/letters/{stem}.pdf")   # exactly re-rendered

    local = _download(fs, "out/letters", tmp_path / "letters")
    assert main(["verify", str(local), "--quick"]) == 0
    capsys.readouterr()
    assert main(["verify", local.resolve().as_uri(), "--quick"]) == 0      # a file:// URL: the folder itself
    assert f"verified: {local.resolve()}" in capsys.readouterr().out
    assert main(["verify", f"{S3}/out/letters", "--quick"]) == 0
    out = capsys.readouterr().out
    assert f"verified: {S3}/out/letters" in out and "xai-reports-stage" not in out
    assert main(["verify", f"{S3}/out/letters/{stem}.pdf"]) == 0   # one PDF, its siblings and manifest fetched
    capsys.readouterr()
    # a tampered object is found through the URL too
    fs.pipe_file(f"{BUCKET}/out/letters/{stem}.json", _get(fs, f"out/letters/{stem}.json").replace(b"HMDA", b"HMDB"))
    assert main(["verify", f"{S3}/out/letters", "--quick"]) == 1
    assert f"TAMPERED OR DAMAGED" in capsys.readouterr().out
    _one_line_error(capsys, main(["verify", f"s3://AKIDUSER:{SECRET}@{BUCKET}/out/nothing-here"]),
                    f"{S3}/out/nothing-here")
    _one_line_error(capsys, main(["regenerate", f"{S3}/out/letters/nope.json", "--out", f"{S3}/out/regen2"]),
                    f"{S3}/out/letters/nope.json")


def test_a_staged_prefix_may_not_hold_a_name_that_leaves_it(s3, capsys):
    import boto3

    client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{s3['port']}", region_name="us-east-1")
    client.put_object(Bucket=BUCKET, Key="dots/run/manifest.json", Body=b"{}")
    client.put_object(Bucket=BUCKET, Key="dots/run/../../outside.txt", Body=b"x")
    line = _one_line_error(capsys, main(["verify", f"{S3}/dots/run"]), f"{S3}/dots/run")
    assert "would leave the folder" in line
    line = _one_line_error(capsys, main(["incident", "--model", f"{S3}/dots/run", "--clip", f"{S3}/dots/run",
                                         "--incident", f"{S3}/dots/run/manifest.json",
                                         "--out", f"{S3}/out/dots/i.pdf"]), f"{S3}/dots/run")
    assert "would leave the folder" in line and _keys(s3["fs"], "out/dots") == []


# -- audit: one document, its JSON and its manifest ------------------------------------------------------
def test_audit_from_and_to_s3_verifies(s3, tmp_path, capsys):
    import hashlib

    fs = s3["fs"]
    assert main(["audit", "--pack", "finance_hmda_example", "--model", f"{S3}/in/hmda_xgb.json",
                 "--data", f"{S3}/in/labelled.csv", "--target", "deny", "--date", DATE, "--quiet",
                 "--out", f"{S3}/out/audit/report.html", "--json", f"{S3}/out/audit/report"]) == 0
    out = capsys.readouterr().out
    assert f"written to {S3}/out/audit/report.html" in out and "xai-reports-stage" not in out
    assert _keys(fs, "out/audit") == ["report.html", "report.json", "report.manifest.json"]
    manifest = json.loads(_get(fs, "out/audit/report.manifest.json"))
    assert set(manifest["outputs"]) == {"report.html", "report.json"}
    # the inputs read from the bucket are the files uploaded there
    record = json.loads(_get(fs, "out/audit/report.json"))
    text = json.dumps(record)
    for local in (s3["model"], s3["dir"] / "labelled.csv"):
        assert hashlib.sha256(local.read_bytes()).hexdigest() in text, local.name
    local = _download(fs, "out/audit", tmp_path / "audit")
    assert main(["verify", str(local)]) == 0
    assert main(["verify", f"{S3}/out/audit"]) == 0
    assert f"verified: {S3}/out/audit" in capsys.readouterr().out


INCIDENT_PACK = """extends: autonomous_driving
name: drive_remote
incident:
  image_explanation:
    max_key_frames: 1
    options: {grad_cam: {layer: features.relu4}, integrated_gradients: {n_steps: 4},
              occlusion: {window: [16, 16], strides: [16, 16]}}
"""


# -- incident: a clip folder, the model folder and the incident file in the bucket ------------------------
def test_incident_from_and_to_s3_verifies(s3, tmp_path, capsys):
    import dataclasses
    import hashlib

    from examples.driving_synthetic.clips import _scenarios, write_clip
    from examples.driving_synthetic.demo import shipped_models
    from xai_reports.documents.incident.clips import read_clip
    from xai_reports.documents.incident.incident_file import EXAMPLE_INCIDENT

    fs = s3["fs"]
    short = dataclasses.replace(_scenarios()["pedestrian_step_in"], duration=3.0, fps=5)   # 15 frames
    clip = write_clip(tmp_path / "clip", short)
    for p in sorted(clip.rglob("*")):
        if p.is_file():
            fs.pipe_file(f"{BUCKET}/drive/clip/{p.relative_to(clip).as_posix()}", p.read_bytes())
    for p in sorted(shipped_models().iterdir()):
        fs.pipe_file(f"{BUCKET}/drive/models/{p.name}", p.read_bytes())
    fs.pipe_file(f"{BUCKET}/drive/incident.yaml", EXAMPLE_INCIDENT.encode())
    fs.pipe_file(f"{BUCKET}/drive/pack/pack.yaml", INCIDENT_PACK.encode())   # one key frame, cheap methods
    args = ["incident", "--quiet", "--format", "json", "--pack", f"{S3}/drive/pack"]
    assert main(args + ["--model", f"{S3}/drive/models", "--clip", f"{S3}/drive/clip",
                        "--incident", f"{S3}/drive/incident.yaml", "--out", f"{S3}/out/incident/inc.json",
                        "--sgo-out", f"{S3}/out/sgo/sgo.json"]) == 0
    out = capsys.readouterr().out
    assert f"{S3}/out/incident/inc.manifest.json" in out and "xai-reports-stage" not in out
    assert _keys(fs, "out/incident") == ["inc.json", "inc.manifest.json"] and _keys(fs, "out/sgo") == ["sgo.json"]
    # the record describes the clip and models uploaded: same clip hash and name, same model hashes
    record = json.loads(_get(fs, "out/incident/inc.json"))
    assert record["clip"]["sha256"] == read_clip(clip).sha256 and record["clip"]["id"] == "pedestrian_step_in"
    assert record["pack"]["name"] == "drive_remote" and len(record["key_frames"]) == 1
    text = json.dumps(record)
    for name in ("decision_cnn.pt", "planner_xgb.json"):
        assert hashlib.sha256((shipped_models() / name).read_bytes()).hexdigest() in text, name
    assert main(["verify", str(_download(fs, "out/incident", tmp_path / "inc")), "--quick"]) == 0
    capsys.readouterr()
    import importlib.util

    if importlib.util.find_spec("mcap_ros2"):   # the same clip as an MCAP log object, model and planner as files
        from xai_reports.documents.incident.logs import write_mcap_clip
        from xai_reports.packs import load_pack

        topics = load_pack("autonomous_driving").section("incident").log_topics
        mcap = write_mcap_clip(read_clip(clip), tmp_path / "clip.mcap", topics)
        fs.pipe_file(f"{BUCKET}/drive/clip.mcap", mcap.read_bytes())
        assert main(args + ["--model", f"{S3}/drive/models/decision_cnn.pt", "--planner",
                            f"{S3}/drive/models/planner_xgb.json", "--clip", f"{S3}/drive/clip.mcap",
                            "--incident", f"{S3}/drive/incident.yaml", "--out", f"{S3}/out/incident-mcap/inc.json"]) == 0
        from_log = json.loads(_get(fs, "out/incident-mcap/inc.json"))
        for key in ("replay", "events", "key_frames", "facts", "cross_check", "planner", "models"):
            assert from_log[key] == record[key], key
        assert from_log["document"]["content"]["scenario"]["source"]["format"] == "MCAP (ROS 2 CDR)"
        capsys.readouterr()
    _one_line_error(capsys, main(args + ["--model", f"{S3}/drive/models", "--clip", f"{S3}/drive/no-clip",
                                         "--incident", f"{S3}/drive/incident.yaml",
                                         "--out", f"{S3}/out/incident2/inc.json"]), f"{S3}/drive/no-clip")
    assert _keys(fs, "out/incident2") == []


# -- model-card: the card is written beside the model in the bucket ------------------------------------------
def test_model_card_from_s3_writes_beside_the_model(s3, tmp_path, capsys):
    import torch

    sys.path.insert(0, str(REPO / "tests" / "healthcare"))
    import _team_nets as tn

    fs = s3["fs"]
    pack = ("extends: healthcare\nname: team\ncase_review:\n  models:\n    blobs_ts:\n      kind: image\n"
            "      name: blobs_ts\n      classes: [red, green, blue]\n      model_format: torchscript\n"
            "      evidence: {methods: [saliency], primary: saliency}\n"
            "      intended_use: Sort coloured blobs.\n      intended_user: Test suite\n"
            "      population: synthetic RGB blob images\n      regulatory_status: test model\n"
            "      above_threshold: present\n      below_threshold: absent\n"
            "      input: {height: 96, width: 80, channels: 3, column: image, modality: synthetic RGB blob image}\n")
    (tmp_path / "pack").mkdir()
    (tmp_path / "pack" / "pack.yaml").write_text(pack)
    fs.pipe_file(f"{BUCKET}/hc/pack/pack.yaml", pack.encode())
    for split, n, seed in (("cal", 12, 1), ("test", 8, 2)):
        X, y = tn.make_images(n, seed)
        names = tn.write_pngs(X, tmp_path / "images", split)
        pd.DataFrame({"image": names, "label": [["red", "green", "blue"][k] for k in y]}).to_csv(
            tmp_path / f"{split}.csv", index=False)
        fs.pipe_file(f"{BUCKET}/hc/{split}.csv", (tmp_path / f"{split}.csv").read_bytes())
        for name in names:
            fs.pipe_file(f"{BUCKET}/hc/images/{name}", (tmp_path / "images" / name).read_bytes())
    (tmp_path / "m").mkdir()
    torch.jit.save(torch.jit.script(tn.set_weights(tn.build(3))), str(tmp_path / "m" / "m.pt"))
    fs.pipe_file(f"{BUCKET}/hc/models/m.pt", (tmp_path / "m" / "m.pt").read_bytes())
    common = ["model-card", "--model-id", "blobs_ts", "--trained-on", "2026-02-02"]
    assert main(common + ["--pack", str(tmp_path / "pack"), "--model", str(tmp_path / "m" / "m.pt"),
                          "--calibration", str(tmp_path / "cal.csv"), "--test", str(tmp_path / "test.csv"),
                          "--images", str(tmp_path / "images")]) == 0
    capsys.readouterr()
    assert main(common + ["--pack", f"{S3}/hc/pack", "--model", f"{S3}/hc/models/m.pt",
                          "--calibration", f"{S3}/hc/cal.csv", "--test", f"{S3}/hc/test.csv",
                          "--images", f"{S3}/hc/images"]) == 0
    assert f"model card written: {S3}/hc/models/m.card.json" in capsys.readouterr().out
    assert main(["validate-pack", f"{S3}/hc/pack"]) == 0
    assert "ok: pack 'team'" in capsys.readouterr().out
    assert _keys(fs, "hc/models") == ["m.card.json", "m.pt", "m.reference.npz"]
    remote_card = json.loads(_get(fs, "hc/models/m.card.json"))
    local_card = json.loads((tmp_path / "m" / "m.card.json").read_text())
    assert remote_card == local_card and remote_card["reference"]["n"] == 12
    line = _one_line_error(capsys, main(common + ["--pack", f"{S3}/hc/pack", "--model", f"{S3}/hc/models/m.pt",
                                                  "--calibration", f"{S3}/hc/cal.csv", "--test", f"{S3}/hc/test.csv",
                                                  "--images", f"{S3}/hc/no-images"]), f"{S3}/hc/cal.csv")
    assert "row 1" in line and "cal_000.png: not found" in line   # the file, row and field of the image


# -- the staging itself: nothing before commit, the manifest last, no staging path in a message --------------
def test_staging_commits_after_success_only_and_the_manifest_last(s3, monkeypatch):
    from xai_reports.errors import InputError
    from xai_reports.io.staging import Staging
    from xai_reports.io.storage import RemoteDir

    fs = s3["fs"]
    with pytest.raises(InputError) as info:
        with Staging() as st:
            out = st.output_folder(f"{S3}/out/staged-failed")
            (out / "a.pdf").write_bytes(b"a")
            raise InputError("bad row", file=out / "a.pdf")
    assert str(info.value) == f"{S3}/out/staged-failed/a.pdf: bad row"   # the URL, not the staging path
    assert _keys(fs, "out/staged-failed") == []                            # nothing committed

    order = []
    write = RemoteDir.write
    monkeypatch.setattr(RemoteDir, "write", lambda self, name, data: (order.append(name), write(self, name, data)))
    with Staging() as st:
        out = st.output_file(f"{S3}/out/staged/r.pdf")
        for name in ("r.manifest.json", "r.pdf", "z.json", "sub/x.html"):
            (out.parent / name).parent.mkdir(exist_ok=True)
            (out.parent / name).write_bytes(name.encode())
        assert _keys(fs, "out/staged") == []   # written locally only, so far
        assert st.commit()[-1] == f"{S3}/out/staged/r.manifest.json"
    assert order[-1] == "r.manifest.json" and sorted(order) == sorted(["r.manifest.json", "r.pdf", "z.json", "sub/x.html"])
    assert _get(fs, "out/staged/sub/x.html") == b"sub/x.html"


def test_demo_out_to_s3_commits_the_whole_tree(s3, monkeypatch, capsys):
    """The demo command's wiring (the demo itself takes minutes): a stand-in run_demo writes a tree into the
    folder it is given; every file becomes an object under the prefix, and what is printed names the URL."""
    from types import SimpleNamespace

    from xai_reports.commands import demo

    def fake_run_demo(out, progress=False):
        out = Path(out)
        (out / "letters").mkdir(parents=True)
        (out / "letters" / "letter_A.pdf").write_bytes(b"%PDF-fake")
        (out / "letters" / "manifest.json").write_text("{}")
        (out / "driving").mkdir()
        (out / "driving" / "incident.pdf").write_bytes(b"%PDF-inc")
        summary = SimpleNamespace(rows=1, denied=1, approved=0, letters=1, flagged=[], errors=[])
        return {"model": "fake", "auc_holdout": 0.5, "letters_dir": out / "letters", "summary": summary,
                "audit": [], "healthcare": None, "incident_report": out / "driving" / "incident.pdf"}

    monkeypatch.setattr(demo, "_load_run_demo", lambda: fake_run_demo)
    assert main(["demo", "--quiet", "--out", f"{S3}/out/demo"]) == 0
    out = capsys.readouterr().out
    assert f"written to {S3}/out/demo/letters" in out and f"{S3}/out/demo/driving/incident.pdf" in out
    assert _keys(s3["fs"], "out/demo") == ["driving/incident.pdf", "letters/letter_A.pdf", "letters/manifest.json"]
    assert _get(s3["fs"], "out/demo/letters/letter_A.pdf") == b"%PDF-fake"
