import subprocess
import sys
import textwrap

import pytest

from xai_reports import PackError, load_pack


def write(tmp_path, text, name="pack.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_shipped_finance_pack():
    finance_pack = load_pack("finance")
    assert finance_pack.name == "finance" and finance_pack.spec.domain == "finance"
    assert finance_pack.finance.max_reasons == 4
    assert set(finance_pack.protected_features()) == {"afam", "single"}
    for name, f in finance_pack.features.items():
        if not f.protected:
            assert f.reason in finance_pack.reasons, name
    assert len(finance_pack.sha256) == 64


def test_extends_overrides_only_what_differs(tmp_path):
    p = write(tmp_path, """
        extends: finance_hmda_example
        name: acme
        version: "2.0"
        letter:
          institution:
            name: ACME Credit Union
          decision:
            threshold: 0.4
        features:
          dti:
            label: Debt to income
            type: numeric
            format: percent
            reason: excessive_obligations
          unemp: null
    """)
    pack = load_pack(p)
    assert pack.name == "acme" and pack.finance.institution.name == "ACME Credit Union"
    assert pack.finance.institution.phone == load_pack("finance_hmda_example").finance.institution.phone
    assert pack.finance.decision.threshold == 0.4
    assert "dti" in pack.features and "unemp" not in pack.features and "pirat" in pack.features
    assert [f.name for f in pack.files] == ["pack.yaml", "pack.yaml", "pack.yaml"]


@pytest.mark.parametrize("body,key,msg", [
    ("extends: finance\nname: x\nversion: '1'\nfeaturez: {}\n", "featurez", "unknown key"),
    ("extends: finance\nname: x\nversion: '1'\nfeatures:\n  pirat:\n    type: numerc\n", "features.pirat.type", "expected"),
    ("extends: finance\nname: x\nversion: '1'\nfeatures:\n  pirat:\n    reason: nope\n", "features.pirat.reason", "not declared"),
    ("extends: finance\nname: x\nversion: '1'\nfeatures:\n  newcol:\n    reason: education\n", "features.newcol", "not declared by the base pack"),
    ("extends: finance\nname: x\nversion: '1'\ntemplates:\n  letter: finance/missing.html.j2\n", "templates.letter", "not found"),
    ("extends: finance\nname: x\nversion: '1'\nfeatures:\n  afam:\n    reason: education\n", "features.afam.reason", "protected"),
    ("extends: finance\nname: x\nversion: '1'\nletter:\n  max_reasons: 6\n", "letter.max_reasons", "4"),
    # a pack still written with the old key: the error names the key as written
    ("extends: finance\nname: x\nversion: '1'\nfinance:\n  max_reasons: 6\n", "finance.max_reasons", "4"),
])
def test_errors_name_file_and_key_path(tmp_path, body, key, msg):
    p = write(tmp_path, body)
    with pytest.raises(PackError) as exc:
        load_pack(p)
    text = str(exc.value)
    assert str(p) in text and key in text and msg in text
    assert "\n" not in text


def test_missing_required_field(tmp_path):
    p = write(tmp_path, "name: x\nversion: '1'\ndomain: finance\n")
    with pytest.raises(PackError, match=r"features.*required key is missing"):
        load_pack(p)


def test_broken_yaml_names_line(tmp_path):
    p = write(tmp_path, "name: x\nfeatures: [a, b\n")
    with pytest.raises(PackError, match=r"line \d+"):
        load_pack(p)


def test_unknown_pack_and_cycle(tmp_path):
    with pytest.raises(PackError, match="no pack named"):
        load_pack("no-such-pack")
    write(tmp_path, "extends: b.yaml\nname: a\n", "a.yaml")
    write(tmp_path, "extends: a.yaml\nname: b\n", "b.yaml")
    with pytest.raises(PackError, match="cycle"):
        load_pack(tmp_path / "a.yaml")


def test_yaml_is_loaded_safely(tmp_path):
    p = write(tmp_path, "name: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(PackError, match="invalid YAML"):
        load_pack(p)


def test_validate_pack_cli(tmp_path):
    ok = subprocess.run([sys.executable, "-m", "xai_reports", "validate-pack", "finance_hmda_example"],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "ok: pack 'finance_hmda_example'" in ok.stdout
    bad = write(tmp_path, "extends: finance\nname: x\nversion: '1'\nfeaturez: {}\n")
    res = subprocess.run([sys.executable, "-m", "xai_reports", "validate-pack", str(bad)], capture_output=True, text=True)
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "featurez" in res.stderr and str(bad) in res.stderr
