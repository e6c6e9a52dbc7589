"""The README's examples stay true: its pack example validates and its commands exist."""

import re
from pathlib import Path

from xai_reports import load_pack
from xai_reports.cli import build_parser

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_pack_example_validates(tmp_path):
    section = README[README.index("## Writing a pack"):]
    example = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    (tmp_path / "pack.yaml").write_text(example, encoding="utf-8")
    pack = load_pack(tmp_path / "pack.yaml")
    assert pack.name == "acme-cards" and "dti" in pack.features and "unemp" not in pack.features
    assert pack.finance.reference_population.kind == "near_cutoff"
    # the example sets everything a lender must supply, so letters and audits accept it
    assert pack.spec.completeness_gaps("letter") == [] and pack.spec.completeness_gaps("audit") == []
    assert pack.spec.missing_translations("en") == [] and pack.languages == ["en"]
    assert pack.features["age"].lawful_use is not None and pack.features["savings"].missing_values == ["unknown"]


def test_every_documented_subcommand_exists():
    documented = set(re.findall(r"^xai-reports ([a-z-]+)", README, re.M))
    choices = set(build_parser()._subparsers._group_actions[0].choices)
    assert documented and documented <= choices, documented - choices
