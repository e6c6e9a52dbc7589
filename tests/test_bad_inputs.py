"""The bad inputs of issue 16, through the CLI: each is one line on stderr, exit 2, no traceback, and
nothing in the output folder (not even the batch journal or lock); and no orphan process after kill -9.

Healthcare (case-review) and driving (incident) cases are in tests/healthcare/test_bad_inputs_cli.py and
tests/driving/test_incident_bad_inputs.py.
"""

from __future__ import annotations

import csv
import json
import os
import re
import time
from pathlib import Path

import pandas as pd
import pytest

from xai_reports import load_pack
from xai_reports.cli import ERROR_LINE_LIMIT, main
from xai_reports.errors import InputError, PackError

from bad_input_helpers import CLI, ROOT, assert_refused, kill_and_check_descendants, make_pack, run_cli


@pytest.fixture(scope="module")
def labelled(hmda, hmda_files, tmp_path_factory):
    """Labelled rows for the audit (held-out HMDA rows with their 'deny')."""
    from examples.finance_hmda import FEATURES, PROTECTED

    d = tmp_path_factory.mktemp("labelled")
    hmda.iloc[1900:2300][["applicant_id"] + FEATURES + PROTECTED + ["deny"]].to_csv(d / "labelled.csv", index=False)
    return d / "labelled.csv"


def finance_commands(hmda_files, labelled, out, *, pack="finance_hmda_example", model=None, data=None):
    """The three finance commands with the given pack/model/data; ``out`` is the folder (letters,
    counterfactuals) or the folder holding the audit's file."""
    model = model or hmda_files["model"]
    return {
        "letters": ["letters", "--pack", pack, "--model", model, "--data", data or hmda_files["applications"],
                    "--out", out, "--quiet", "--format", "json", "--workers", "0"],
        "counterfactuals": ["counterfactuals", "--pack", pack, "--model", model,
                            "--data", data or hmda_files["applications"], "--out", out, "--quiet", "--k", "1"],
        "audit": ["audit", "--pack", pack, "--model", model, "--data", data or labelled, "--target", "deny",
                  "--out", Path(out) / "audit.html", "--quiet"],
    }


# ----------------------------------------------------------------------------- packs naming outside paths
def etc_pack(tmp_path, base="finance_hmda_example", tpl="finance/adverse_action_letter.html.j2"):
    """The attack of the issue: template_dirs [/etc] and a template that inlines /etc/passwd."""
    pack = make_pack(tmp_path / "evil", "template_dirs: [/etc]\n", base)
    t = pack / "templates" / tpl
    t.parent.mkdir(parents=True)
    t.write_text('{%% extends "shipped:%s" %%}{%% block closing %%}<img src="{{ asset_data_uri(\'passwd\') }}" '
                 'alt="x">{%% endblock %%}' % tpl)
    return pack


@pytest.mark.parametrize("command", ["letters", "counterfactuals", "audit"])
def test_pack_template_dirs_outside_its_folder(hmda_files, labelled, tmp_path, command):
    pack = etc_pack(tmp_path)
    out = tmp_path / "out"
    res = run_cli(*finance_commands(hmda_files, labelled, out, pack=pack)[command])
    assert_refused(res, out, "pack.yaml: template_dirs:", "'/etc' is an absolute path", "--templates")


PACK_CASES = [  # (pack body or extends, extra setup, expected key, expected words)
    ("template_dirs: ['../outside']\n", None, "template_dirs", "outside the pack's folder"),
    ("template_dirs: ['sub/../../outside']\n", None, "template_dirs", "outside the pack's folder"),
    ("template_dirs: [link]\n", "link", "template_dirs", "outside the pack's folder"),
    ("template_dirs: [\"tpl\\0x\"]\n", None, "template_dirs", "NUL"),
]


@pytest.mark.parametrize("body,setup,key,words", PACK_CASES)
def test_pack_paths_are_confined_after_resolving(tmp_path, body, setup, key, words):
    (tmp_path / "outside").mkdir()
    pack = make_pack(tmp_path / "p", body)
    if setup == "link":
        (pack / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(PackError) as exc:
        load_pack(pack)
    text = str(exc.value)
    assert f"{pack / 'pack.yaml'}: {key}:" in text and words in text and "\n" not in text


@pytest.mark.parametrize("ref", ["/ABS/pack.yaml", "../other/pack.yaml", "../other", "sub/../../other/pack.yaml"])
def test_extends_outside_the_pack_folder(tmp_path, ref):
    other = make_pack(tmp_path / "other", "")
    ref = ref.replace("/ABS", str(other))
    pack = tmp_path / "p"
    pack.mkdir()
    (pack / "sub").mkdir()
    (pack / "pack.yaml").write_text(f"extends: {ref}\nname: x\nversion: '1'\n")
    with pytest.raises(PackError) as exc:
        load_pack(pack)
    text = str(exc.value)
    assert "extends:" in text and ("absolute path" in text or "is outside the pack's folder" in text), text
    assert "extends: finance" in text  # says how to extend a shipped pack


def test_templates_folder_or_file_linking_outside(tmp_path, hmda_files, capsys):
    outside = tmp_path / "outside"
    (outside / "finance").mkdir(parents=True)
    (outside / "finance" / "adverse_action_letter.html.j2").write_text("stolen")
    linked_dir = make_pack(tmp_path / "a", "")
    (linked_dir / "templates").symlink_to(outside)
    with pytest.raises(PackError, match="templates folder: 'templates' is outside the pack's folder"):
        load_pack(linked_dir)
    # a single template file linking outside: refused when the template is read, through the CLI
    linked_file = make_pack(tmp_path / "b", "")
    (linked_file / "templates" / "finance").mkdir(parents=True)
    (linked_file / "templates" / "finance" / "adverse_action_letter.html.j2").symlink_to(
        outside / "finance" / "adverse_action_letter.html.j2")
    out = tmp_path / "out"
    rc = main(["letters", "--pack", str(linked_file), "--model", str(hmda_files["model"]), "--data",
               str(hmda_files["applications"]), "--out", str(out), "--quiet", "--format", "html", "--workers", "0"])
    assert_refused(rc, out, "is a link to", "outside the pack's template folder", err=capsys.readouterr().err)


def test_inside_paths_and_shipped_names_still_work(tmp_path, hmda_files):
    root = tmp_path / "site"
    (root / "shared" / "finance").mkdir(parents=True)
    (root / "shared" / "finance" / "adverse_action_letter.html.j2").write_text(
        '{% extends "shipped:finance/adverse_action_letter.html.j2" %}'
        '{% block closing %}<p>Site closing</p>{% endblock %}')
    (root / "base").mkdir()
    (root / "base" / "pack.yaml").write_text("extends: finance_hmda_example\nname: base\nversion: '1'\n"
                                             "template_dirs: [../shared]\n")   # inside the named pack's folder
    (root / "pack.yaml").write_text("extends: base\nname: site\nversion: '1'\n")
    pack = load_pack(root)
    assert [f.parent.name for f in pack.files] == ["finance", "finance_hmda_example", "base", "site"]
    assert (root / "shared").resolve() in pack.template_dirs()
    # the same base pack named on its own: its folder is the limit, so ../shared is now outside
    with pytest.raises(PackError, match="outside the pack's folder"):
        load_pack(root / "base")
    # --templates may name any folder
    from xai_reports import generate_letters

    user = tmp_path / "user_templates"
    (user / "finance").mkdir(parents=True)
    (user / "logo.txt").write_text("LOGO")
    (user / "finance" / "adverse_action_letter.html.j2").write_text(
        '{% extends "pack:finance/adverse_action_letter.html.j2" %}'
        '{% block closing %}<img src="{{ asset_data_uri(\'logo.txt\') }}" alt="logo">{% endblock %}')
    s = generate_letters(hmda_files["model"], hmda_files["applications"], pack, tmp_path / "o",
                         formats=("html",), templates=[user], workers=0)
    html = next((tmp_path / "o").glob("letter_*.html")).read_text()
    assert s.letters > 0 and "data:text/plain;base64,TE9HTw==" in html


def test_etc_passwd_never_reaches_a_letter(tmp_path, hmda_files):
    """The exact report of the issue, through the Python API: refused at load_pack, nothing rendered."""
    from xai_reports import generate_letters

    with pytest.raises(PackError, match="template_dirs"):
        generate_letters(hmda_files["model"], hmda_files["applications"], etc_pack(tmp_path), tmp_path / "o",
                         formats=("html",), workers=0)
    assert not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------- model types unlike the data
@pytest.fixture(scope="module")
def odd_models(hmda, finance_pack, tmp_path_factory):
    """XGBoost models trained on other encodings than the finance pack's (few trees: only types matter)."""
    import xgboost as xgb

    from examples.finance_hmda import FEATURES
    from xai_reports.io.tabular import encode_like_pack

    d = tmp_path_factory.mktemp("odd_models")
    part = hmda.iloc[:500]
    X = encode_like_pack(part[["applicant_id"] + FEATURES], finance_pack, FEATURES)
    y = part["deny"].to_numpy()
    numeric = X.copy()
    for c in numeric.columns:  # every categorical as numeric codes
        if isinstance(numeric[c].dtype, pd.CategoricalDtype):
            numeric[c] = numeric[c].cat.codes.astype(float)
    xgb.XGBClassifier(n_estimators=3, max_depth=2).fit(numeric, y).get_booster().save_model(d / "numeric.json")
    binned = X.copy()
    binned["lvrat"] = pd.cut(binned["lvrat"], 3, labels=["low", "mid", "high"])
    xgb.XGBClassifier(n_estimators=3, max_depth=2, enable_categorical=True, tree_method="hist").fit(
        binned, y).get_booster().save_model(d / "categorical.json")
    return {"numeric": d / "numeric.json", "categorical": d / "categorical.json"}


@pytest.mark.parametrize("command", ["letters", "counterfactuals", "audit"])
@pytest.mark.parametrize("kind,column,words", [
    ("numeric", "phist", "the model takes this feature as numeric, but pack 'finance_hmda_example' declares it binary"),
    ("categorical", "lvrat", "the model takes this feature as categorical, but pack 'finance_hmda_example' declares it numeric"),
])
def test_model_feature_types_unlike_the_data(hmda_files, labelled, odd_models, tmp_path, capsys, command, kind,
                                             column, words):
    out = tmp_path / "out"
    rc = main([str(a) for a in finance_commands(hmda_files, labelled, out, model=odd_models[kind])[command]])
    assert_refused(rc, out, f"{odd_models[kind]}: column '{column}': {words}", err=capsys.readouterr().err)


def test_model_types_subprocess_no_xgboost_traceback(hmda_files, labelled, odd_models, tmp_path):
    """Today's report: an XGBoostError traceback, exit 1."""
    out = tmp_path / "out"
    res = run_cli(*finance_commands(hmda_files, labelled, out, model=odd_models["categorical"])["letters"])
    assert_refused(res, out, "column 'lvrat'")
    assert "XGBoostError" not in res.stderr


def test_xgboost_refusals_left_become_one_input_error(hmda_files, odd_models, finance_pack):
    """Models that do not record types are not checked up front; XGBoost's own refusal is still one line."""
    from xai_reports import load_model
    from xai_reports.io.tabular import encode_like_pack

    adapter = load_model(odd_models["categorical"])
    X = encode_like_pack(pd.read_csv(hmda_files["applications"], dtype=str), finance_pack,
                         adapter.feature_names)
    with pytest.raises(InputError, match=r"the model cannot score these data \(") as exc:
        adapter.contributions(X)
    assert "\n" not in str(exc.value) and len(str(exc.value)) < 300


@pytest.mark.parametrize("command", ["letters", "counterfactuals"])
def test_string_column_and_missing_column(hmda_files, labelled, tmp_path, capsys, command):
    df = pd.read_csv(hmda_files["applications"], dtype=str, keep_default_na=False)
    df.drop(columns=["hirat"]).to_csv(tmp_path / "nohirat.csv", index=False)
    out = tmp_path / "out"
    rc = main([str(a) for a in finance_commands(hmda_files, labelled, out, data=tmp_path / "nohirat.csv")[command]])
    assert_refused(rc, out, "nohirat.csv: column 'hirat': missing column", err=capsys.readouterr().err)
    # a text column where the model wants numbers: each row is named (file, row, column); for the
    # letters batch these are row errors (exit 3, listed), for the counterfactual search one line
    df.assign(lvrat="high").to_csv(tmp_path / "text.csv", index=False)
    rc = main([str(a) for a in finance_commands(hmda_files, labelled, out, data=tmp_path / "text.csv")[command]])
    err = capsys.readouterr().err
    assert "text.csv: row 1 (id HMDA-1901), column 'lvrat': expected a number, got 'high'" in err
    if command == "letters":
        assert rc == 3 and json.loads((out / "summary.json").read_text())["letters_written"] == 0
    else:
        assert_refused(rc, out, err=err)


# ----------------------------------------------------------------------------- unwritable output folders
def unwritable_outputs(tmp_path):
    afile = tmp_path / "a_file"
    afile.write_text("x")
    cases = {"under a file": (afile / "sub", "is inside"), "a file": (afile, "is a file"),
             "read-only /proc": (Path("/proc/xai-reports-test"), "no file can be created in /proc")}
    if os.geteuid() != 0:  # chmod blocks writes only for other users than root
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        cases["read-only folder"] = (ro / "out", "no file can be created in")
    return cases


@pytest.mark.parametrize("command", ["letters", "counterfactuals", "audit"])
def test_unwritable_output_folder(hmda_files, labelled, tmp_path, capsys, command):
    for label, (out, words) in unwritable_outputs(tmp_path).items():
        args = [str(a) for a in finance_commands(hmda_files, labelled, out)[command]]
        rc = main(args)
        err = capsys.readouterr().err
        assert rc == 2 and "Traceback" not in err and err.count("\n") == 1, (label, err)
        assert words in err, (label, err)
        target = Path(args[args.index("--out") + 1])
        assert not target.exists() or target == tmp_path / "a_file"
    assert sorted(p.name for p in tmp_path.iterdir()) in (["a_file"], ["a_file", "ro"])
    assert not [p for p in Path("/proc").glob("*") if p.name.startswith(".xai-reports.probe")]


def test_unwritable_output_subprocess(hmda_files, labelled, tmp_path):
    """Today's report: a PermissionError/NotADirectoryError traceback, exit 1."""
    out = tmp_path / "a_file" / "sub"
    (tmp_path / "a_file").write_text("x")
    res = run_cli(*finance_commands(hmda_files, labelled, out)["letters"])
    assert_refused(res, out, "output folder is inside", "which is a file")


def test_output_check_is_real_for_this_user(tmp_path):
    """The writability check creates and removes a probe file: it says no where a write would fail
    (root included, where os.access says yes on /proc), and leaves nothing behind where it says yes."""
    from xai_reports.io.outputs import check_writable_dir

    assert os.access("/proc", os.W_OK) or os.geteuid() != 0  # why os.access alone is not enough as root
    with pytest.raises(InputError, match="no file can be created in /proc"):
        check_writable_dir("/proc/xai-reports/sub")
    check_writable_dir(tmp_path / "new" / "deeper")
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- control characters
CONTROL_IDS = ["HMDA\x00X", "HMDA\nX", "HMDA\rX", "HMDA\x1b[31mX", "HMDA\x85X", "HMDA\u2028X", "HMDA\tX", "HMDA\x7fX"]


@pytest.mark.parametrize("bad_id", CONTROL_IDS, ids=lambda s: repr(s)[5:-2])
def test_ids_with_control_characters_are_refused(hmda_files, tmp_path, capsys, bad_id):
    df = pd.read_csv(hmda_files["applications"], dtype=str, keep_default_na=False)
    df.loc[6, "applicant_id"] = bad_id
    data = tmp_path / "ids.csv"
    df.to_csv(data, index=False, quoting=csv.QUOTE_ALL)  # (pandas leaves a lone \r unquoted otherwise)
    out = tmp_path / "out"
    rc = main(["letters", "--pack", "finance_hmda_example", "--model", str(hmda_files["model"]), "--data", str(data),
               "--out", str(out), "--quiet", "--format", "json", "--workers", "0"])
    line = assert_refused(rc, out, "ids.csv: row 7, column 'applicant_id': decision id",
                          "contains a control character", err=capsys.readouterr().err)
    assert not re.search("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]", line)  # the id is shown escaped


def test_control_character_ids_in_parquet_counterfactuals_and_audit(hmda_files, labelled, tmp_path, capsys):
    df = pd.read_csv(hmda_files["applications"], dtype=str, keep_default_na=False)
    df.loc[2, "applicant_id"] = "A\x00B"
    df.to_parquet(tmp_path / "ids.parquet")
    df.to_csv(tmp_path / "ids.csv", index=False)
    out = tmp_path / "out"
    for args in (["letters", "--data", tmp_path / "ids.parquet", "--format", "json", "--workers", "0"],
                 ["counterfactuals", "--data", tmp_path / "ids.csv", "--k", "1"]):
        rc = main([str(a) for a in args[:1] + ["--pack", "finance_hmda_example", "--model", hmda_files["model"], "--out", out,
                                               "--quiet"] + args[1:]])
        assert_refused(rc, out, "row 3, column 'applicant_id'", "\\x00", err=capsys.readouterr().err)
    lab = pd.read_csv(labelled, dtype=str, keep_default_na=False)
    lab.loc[4, "applicant_id"] = "B\u2028C"
    lab.to_csv(tmp_path / "lab.csv", index=False)
    rc = main(["audit", "--pack", "finance_hmda_example", "--model", str(hmda_files["model"]), "--data", str(tmp_path / "lab.csv"),
               "--target", "deny", "--out", str(out / "a.html"), "--date", "2026-11-02", "--quiet"])
    assert_refused(rc, out, "lab.csv: row 5, column 'applicant_id'", "\\u2028", err=capsys.readouterr().err)


def test_control_characters_in_free_text_never_reach_documents_raw(hmda_files, tmp_path):
    """Names and addresses: control characters removed from HTML/PDF text, escaped in JSON."""
    from pypdf import PdfReader

    from xai_reports import generate_letters

    df = pd.read_csv(hmda_files["applications"], dtype=str, keep_default_na=False)
    df["applicant_name"] = "Ann\x00 Lee\x1b[2J\x07\x85\u2028Jr"
    df["applicant_address"] = "1 Main St\r\nApt 2\x0b|Springfield\x7f"
    data = tmp_path / "names.csv"
    df.to_csv(data, index=False)
    out = tmp_path / "out"
    s = generate_letters(hmda_files["model"], data, "finance_hmda_example", out, formats=("pdf", "html", "json"), workers=0)
    assert s.letters > 0 and not s.errors
    raw_control = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
    for html in out.glob("letter_*.html"):
        text = html.read_text(encoding="utf-8")
        assert not raw_control.search(text), html
        assert "Ann Lee[2JJr" in text.replace("\n", "")  # the visible text survives
    for rec in out.glob("letter_*.json"):
        text = rec.read_text(encoding="utf-8")
        assert not re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029]", text.rstrip("\n")), rec
        assert "\\u0000" in text and "\\u0085" in text and "\\u2028" in text  # the record keeps what came in
        assert json.loads(text)["inputs"]["applicant_name"] == "Ann\x00 Lee\x1b[2J\x07\x85\u2028Jr"
    pdf = next(out.glob("letter_*.pdf"))
    reader = PdfReader(pdf)
    text = " ".join(p.extract_text() for p in reader.pages)
    assert "Lee" in text and not raw_control.search(text)
    embedded = reader.attachments["record.json"][0].decode("utf-8")
    assert not re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029]", embedded.rstrip("\n"))


def test_canonical_json_escapes_what_json_leaves_raw():
    from xai_reports.io.outputs import canonical_json

    value = {"k\x85": "a\x00b\x7fc\x9fd\u2028e\u2029f\ng\u00e9"}
    text = canonical_json(value)
    assert json.loads(text) == value
    assert not re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029]", text[:-1])
    assert "\u00e9" in text  # other characters stay as UTF-8


# ----------------------------------------------------------------------------- bounded error lines
def test_long_errors_are_bounded(hmda_files, tmp_path):
    model = tmp_path / "model.json"
    d = json.loads(Path(hmda_files["model"]).read_text())
    d["learner"]["objective"]["name"] = "q" * 500_000  # XGBoost's message quotes the whole value
    model.write_text(json.dumps(d))
    out = tmp_path / "out"
    res = run_cli("letters", "--pack", "finance_hmda_example", "--model", model, "--data", hmda_files["applications"],
                  "--out", out, "--quiet")
    line = assert_refused(res, out, "not a valid XGBoost JSON model")
    assert "…" in line and "qqqq" in line
    assert "[" not in line.split("model (", 1)[1][:12]  # no "[20:00:00] /src/objective.cc:27:" prefix


def test_long_pack_values_and_data_values_are_bounded(hmda_files, tmp_path, capsys):
    pack = make_pack(tmp_path / "p", f"letter:\n  max_reasons: '{'n' * 200_000}'\n")
    with pytest.raises(PackError) as exc:
        load_pack(pack)
    assert len(str(exc.value)) < 600
    df = pd.read_csv(hmda_files["applications"], dtype=str, keep_default_na=False)
    df.loc[0, "lvrat"] = "x" * 100_000
    df.to_csv(tmp_path / "long.csv", index=False)
    rc = main(["counterfactuals", "--pack", "finance_hmda_example", "--model", str(hmda_files["model"]), "--data",
               str(tmp_path / "long.csv"), "--out", str(tmp_path / "out"), "--quiet"])
    line = assert_refused(rc, tmp_path / "out", "long.csv: row 1", err=capsys.readouterr().err)
    assert line.endswith("…") or "…" in line


def test_error_line_is_bounded_in_one_place(capsys, monkeypatch):
    """Whatever a command raises, main prints one line of at most ERROR_LINE_LIMIT characters."""
    from xai_reports.commands import letters

    def boom(args):
        raise InputError("first\nsecond\x00" + "z" * 10_000, file="f.csv", row=3, column="c")

    monkeypatch.setattr(letters, "run", boom)
    assert main(["letters", "--pack", "p", "--model", "m", "--data", "d", "--out", "o"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and len(err.rstrip("\n")) == ERROR_LINE_LIMIT and err.rstrip("\n").endswith("…")
    assert "f.csv: row 3, column 'c': first\\nsecond\\x00zzz" in err

    def oserror(args):
        raise PermissionError(13, "Permission denied", "/some/where/" + "d" * 1000)

    monkeypatch.setattr(letters, "run", oserror)
    assert main(["letters", "--pack", "p", "--model", "m", "--data", "d", "--out", "o"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("xai-reports: error: /some/where/ddd") and err.count("\n") == 1


# ----------------------------------------------------------------------------- no orphans after kill -9
def test_kill_9_of_letters_leaves_no_orphans(hmda, hmda_files, tmp_path):
    from examples.finance_hmda import FEATURES, PROTECTED

    apps = hmda[["applicant_id"] + FEATURES + PROTECTED].copy()
    apps.insert(1, "decision_date", "2026-11-02")
    apps.to_csv(tmp_path / "many.csv", index=False)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    alive, recorded = kill_and_check_descendants(
        CLI + ["letters", "--pack", "finance_hmda_example", "--model", hmda_files["model"], "--data", tmp_path / "many.csv",
               "--out", out, "--workers", "2", "--chunk-size", "100", "--format", "pdf", "--quiet"], out, env=env)
    assert not alive, f"orphans after kill -9: {alive} (recorded {len(recorded)} descendants)"


def test_worker_lifeline_ends_a_worker_when_the_driver_end_closes():
    """The mechanism alone: a process blocked on the lifeline exits once the only write end closes."""
    import multiprocessing as mp

    from xai_reports.batch.executors import _exit_with_driver

    ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
    r, w = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_exit_with_driver, args=(r,))
    proc.start()
    time.sleep(0.5)
    assert proc.is_alive()
    w.close()
    proc.join(10)
    assert proc.exitcode == 1
    r.close()
