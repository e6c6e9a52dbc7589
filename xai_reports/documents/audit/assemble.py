"""Assembling the content tree: identification, executive summary and findings, scope, model
description, limitations, monitoring, sign-off and the reproducibility appendix around the computed sections."""

from __future__ import annotations

from ...errors import PackError
from ...io.outputs import sha256_file as _sha256_local
from ...io.storage import basename, is_remote, sha256_url
from ..blocks import (bullet_list, cell, fixed, is_nan, jsonable, key_value_table, paragraph, percent, subheading,
                      table)
from .context import AuditContext, sha256_frame, software_versions
from .data import describe_trees, tree_summary
from .report import SEVERITY_ORDER, AuditReport



def sha256_file(path) -> str:
    """SHA-256 of a local file or of an object (a URL), read in blocks."""
    return sha256_url(path)[0] if is_remote(path) else _sha256_local(path)


# ----------------------------------------------------------------------------- assembly
_BUILTIN_NOT_REVIEWED = [
    "Conceptual soundness of the development process and alternatives considered (developer documentation is outside this run)",
    "Implementation and integration in production systems (input/output reconciliation in production)",
    "Back-testing over time and population stability against the development sample",
]


def assemble(c: AuditContext, built: dict) -> AuditReport:
    """The report: the computed sections in ``built`` with identification, summary and findings, scope, model
    description, limitations, monitoring, sign-off and the appendix around them; findings ranked and numbered."""
    spec, asec = c.spec, c.asec
    words = c.words
    m = asec.model if asec else None
    model_desc = c.adapter.describe()
    model_hash = c.adapter.sha256
    file_hash = sha256_file(c.model_path) if c.model_path else None
    data_hash = sha256_file(c.data_path) if c.data_path else sha256_frame(c.raw)
    ref_hash = None
    if c.reference_path:
        ref_hash = sha256_file(c.reference_path)
    elif c.ref_X is not None:
        ref_hash = sha256_frame(c.ref_X)
    from ...render import template_fingerprint

    tpl_name = spec.templates.get("audit", "audit/audit_report.html.j2")
    try:
        tpl = template_fingerprint(tpl_name, c.pack.template_dirs())
    except Exception as exc:  # noqa: BLE001
        raise PackError(f"audit template: {exc}", file=c.pack.files[-1], key_path="templates.audit") from None
    title = asec.title if asec else "Model validation and compliance audit report"
    name = (m.name if m else None) or c.model_name or (c.model_path.name if c.model_path else type(c.adapter.model).__name__)

    # -- identification
    if m is None:
        c.finding("medium", "The pack has no audit section",
                  "model id, owner, validator, risk tier, monitoring plan and sign-off are not recorded", "identification")
    ident_rows = [
        ("Model", name),
        ("Model id / version", f"{m.id if m else 'not recorded'} / {m.version if m else 'not recorded'}"),
        ("Inventory id", (m.inventory_id if m and m.inventory_id else "not recorded")),
        ("Model SHA-256 (canonical serialisation)", model_hash),
        ("Model file", f"{c.model_path.name} (SHA-256 {file_hash})" if c.model_path else "in-memory model object"),
        ("Model family", f"{model_desc['family']} ({model_desc['class']}), output {model_desc['output_space']}"),
        ("Report date", f"{c.date} ({c.date_source})"),
        ("Owner", m.owner if m else "not recorded"),
        ("Developer", (m.developer if m and m.developer else "not recorded")),
        ("Validator", m.validator if m else "not recorded"),
        ("Independence", (m.independence if m and m.independence else "not stated")),
        ("Risk tier / materiality", f"{(m.risk_tier if m and m.risk_tier else 'not recorded')}"
                                    f"{'; ' + m.materiality if m and m.materiality else ''}"),
        ("Regulatory classification", "; ".join(m.regulatory_classification) if m and m.regulatory_classification else "not recorded"),
        ("Domain pack", f"{spec.name} {spec.version} (SHA-256 {c.pack.sha256})"),
        ("Guidance structure", "; ".join(filter(None, [asec.guidance if asec else None,
                                                         "EU AI Act Annex IV where applicable"]))),
    ]
    ident = {"id": "identification", "title": "Identification", "blocks": [key_value_table(ident_rows)]}
    c.results["identification"] = {
        "model_name": name, "model_id": m.id if m else None, "model_version": m.version if m else None,
        "inventory_id": m.inventory_id if m else None, "model_sha256": model_hash, "model_file_sha256": file_hash,
        "date": c.date, "date_source": c.date_source, "owner": m.owner if m else None,
        "developer": m.developer if m else None, "validator": m.validator if m else None,
        "risk_tier": m.risk_tier if m else None,
        "regulatory_classification": list(m.regulatory_classification) if m else [], "pack": c.pack.describe()}

    # -- model description
    c.results["model_structure"] = describe_trees(c.adapter)
    md = [("Purpose", (m.purpose if m and m.purpose else "not recorded")),
          ("Intended use", (m.intended_use if m and m.intended_use else "not recorded")),
          ("Intended users", (m.intended_users if m and m.intended_users else "not recorded")),
          ("Algorithm", f"{model_desc['family']} {model_desc['class']}" + tree_summary(c.adapter)),
          ("Output", f"P({c.positive_name}); decision {c.positive_name} when P >= {c.threshold:g}"),
          ("Inputs", f"{len(c.features)} features (below); protected attributes are not inputs"
                     if not set(c.protected) & set(c.features) else f"{len(c.features)} features"),
          ("Explanation method", f"{spec.explanation.method} (additivity tolerance {spec.explanation.additivity_tolerance:g})"),
          ("Components", "; ".join(m.components) if m and m.components else "not recorded")]
    if m and m.use_restrictions:
        md.append(("Use restrictions", "; ".join(m.use_restrictions)))
    prot_inputs = [f for f in c.features if f in c.protected or (f in spec.features and spec.features[f].protected)]
    for a in prot_inputs:
        lu = spec.features[a].lawful_use if a in spec.features else None
        if lu is None:
            ev = (f"a protected attribute should not be used by a {'credit' if words.lending else 'decision'} model; "
                  + ("letters are refused until the pack " if spec.has_kind("letter") else "unless the pack ")
                  + f"declares its lawful use (features.{a}.lawful_use)")
        else:
            ev = (f"the pack declares its lawful use: {lu.basis} ({'; '.join(lu.citations)}). The validator must "
                  "confirm that basis")
            if words.lending:
                ev += (" (for age: an empirically derived, demonstrably and statistically sound system, "
                       "12 CFR 1002.2(p), 1002.6(b)(2), in which the age of an elderly applicant is not assigned a "
                       "negative factor or value)")
        c.finding("high", f"Protected attribute '{a}' is a model input", ev, "model")
    feat_rows = []
    for f in c.features:
        fsp = spec.features[f]
        rk = fsp.reason or ", ".join(sorted(set(fsp.reason_by_value.values()))) or ""
        feat_rows.append([cell(f), cell(fsp.label), cell(fsp.type), cell(fsp.description or ""),
                          cell(spec.reasons[rk].text if rk in spec.reasons else rk),
                          cell("yes" if fsp.actionable else "no")])
    model_sec = {"id": "model", "title": "Model description", "blocks": [
        key_value_table(md), table(["Column", "Feature", "Type", "Description", "Reason statement", "Actionable"], feat_rows,
                      caption="Model inputs as the pack declares them")]}
    c.reviewed.append("Model description against the pack: inputs, output, threshold, explanation method")

    # -- limitations
    lim = list(asec.limitations) if asec else []
    lim.append(f"The audit data has {len(c.X):,} rows; every figure is an estimate on this sample, not on the population.")
    small = [f"{c.feature_label(a)} = {c.group_label(a, r['group'])} ({r['n']} rows)"
             for a in c.protected for r in c.results.get("performance", {}).get("by_group", {}).get(a, [])
             if r["n"] < c.settings.subgroup_min_rows]
    if small:
        lim.append("Subgroups too small to assess: " + "; ".join(small) + ".")
    for key, label in (("importance", "permutation importance"), ("surrogate", "surrogate tree"),
                       ("recourse", "counterfactual recourse")):
        r = c.results.get(key, {})
        r = r.get("permutation", {}) if key == "importance" else r
        if r.get("computed") is False:
            lim.append(f"The {label} was not computed in this run: {r['why']}.")
    eq = c.results.get("explanation_quality", {})
    if eq.get("faithfulness", {}).get("computed") is False:
        lim.append("Faithfulness and stability of the explanations were not computed in this run: "
                   f"{eq['faithfulness']['why']}.")
    lim.append("This report documents tests run by software on the data supplied. It does not certify compliance "
               "with any law or guidance; the validator's conclusions and sign-off below are required.")
    lim_blocks = [bullet_list(lim)]
    if asec and asec.compensating_controls:
        lim_blocks += [subheading("Compensating controls (from the pack)"), bullet_list(asec.compensating_controls)]
    limitations = {"id": "limitations", "title": "Limitations", "blocks": lim_blocks}

    # -- monitoring and sign-off
    mon = asec.monitoring if asec else None
    if mon and (mon.metrics or mon.revalidation_triggers):
        mblocks = [key_value_table([("Owner", mon.owner or "not recorded"), ("Frequency", mon.frequency or "not recorded"),
                       ("Next review due", mon.next_review_due or "not recorded")]),
                   table(["Metric", "Threshold", "Frequency", "Action"],
                         [[cell(x.metric), cell(x.threshold), cell(x.frequency), cell(x.action or "")] for x in mon.metrics],
                         caption="Monitoring metrics", sortable=False)]
        if mon.revalidation_triggers:
            mblocks += [subheading("Revalidation triggers"), bullet_list(mon.revalidation_triggers)]
        # current values of monitored quantities, where this run measured them
        cur = _current_monitoring_values(c)
        if cur:
            mblocks.append(table(["Quantity", "Value in this run"], [[cell(k), cell(v)] for k, v in cur],
                                 caption="Baseline values measured by this run", sortable=False))
    else:
        mblocks = [paragraph("No monitoring plan is recorded in the pack (audit.monitoring).", "warning")]
        c.finding("medium", "No monitoring plan recorded", "the pack's audit.monitoring is empty", "monitoring")
    monitoring = {"id": "monitoring", "title": "Ongoing monitoring plan", "blocks": mblocks}
    so = list(asec.sign_off) if asec and asec.sign_off else []
    sblocks = [paragraph("Validator's overall rating (to be completed by the validator; this software does not rate the model):"),
               {"type": "checkboxes", "items": ["Approved", "Approved with conditions", "Rejected"]},
               {"type": "signoff", "rows": [{"role": s.role, "name": s.name or "", "organisation": s.organisation or ""} for s in so]
                or [{"role": r, "name": "", "organisation": ""} for r in ("Independent validator", "Model owner")]}]
    if asec and asec.retention:
        sblocks.append(paragraph("Retention: " + asec.retention))
    signoff = {"id": "signoff", "title": "Sign-off", "blocks": sblocks}

    # -- findings and executive summary
    findings = sorted(c.findings, key=lambda f: SEVERITY_ORDER[f["severity"]])
    owner = m.owner if m else "model owner"
    for i, f in enumerate(findings, 1):
        f["id"] = f"F-{i:02d}"
        f["owner"] = owner
        f["status"] = "open"
        f["due"] = "set by the validator"
    counts = {k: sum(f["severity"] == k for f in findings) for k in SEVERITY_ORDER}
    perf = c.results.get("performance", {}).get("overall", {})
    headline = [("Rows audited", f"{len(c.X):,}"),
                ("AUC / KS on the labelled data", f"{fixed(perf.get('auc'))} / {fixed(perf.get('ks'))}"),
                (f"Model {c.positive_name} rate at {c.threshold:g}", percent(c.decision.mean()))]
    fr = c.results.get("fairness", {})
    for a in c.protected:
        if isinstance(fr.get(a), dict):
            worst = [g for g in fr[a]["groups"] if g.get("assessed") and not g.get("is_reference")]
            if worst:
                w = min(worst, key=lambda g: g["air"] if not is_nan(g["air"]) else 9)
                headline.append((f"Lowest AIR, {c.feature_label(a)}", f"{fixed(w['air'])} ({w['label']})"))
    rs = c.results.get("reasons", {})
    if rs.get("computed"):
        headline.append(("Denials without a valid reason", f"{rs['flagged']:,} of {rs['denied']:,}"))
    sblocks_exec = [
        paragraph(f"This report records the automated validation tests run on {c.date} for {name}. Findings are ranked by "
                  f"severity: {counts['high']} high, {counts['medium']} medium, {counts['low']} low, {counts['info']} "
                  "informational. The overall rating, "
                  "conditions of use and effective challenge are the validator's to record in the sign-off section; "
                  "this report does not certify compliance."),
        key_value_table(headline),
        table(["ID", "Severity", "Finding", "Evidence", "Section", "Owner", "Status"],
              [[cell(f["id"]), cell(f["severity"], SEVERITY_ORDER[f["severity"]], flag=f"sev-{f['severity']}"),
                cell(f["title"]), cell(f["evidence"]), cell(f["section"]), cell(f["owner"]), cell(f["status"])]
               for f in findings] or [[cell("-"), cell("-"), cell("no findings"), cell(""), cell(""), cell(""), cell("")]],
              caption="Findings log (ranked by severity)", id="findings"),
    ]
    summary = {"id": "summary", "title": "Executive summary and findings", "blocks": sblocks_exec}

    # -- scope
    not_rev = list(dict.fromkeys(c.not_reviewed + _BUILTIN_NOT_REVIEWED + (list(asec.not_reviewed) if asec else [])))
    scope = {"id": "scope", "title": "Scope of review", "blocks": [
        subheading("Reviewed in this run"), bullet_list(c.reviewed),
        subheading("Not reviewed"), bullet_list(not_rev)]}

    # -- appendix
    software = software_versions()
    st = c.settings
    appendix_rows = [("Model SHA-256 (canonical)", model_hash)]
    if file_hash:
        appendix_rows.append((f"Model file {c.model_path.name}", file_hash))
    appendix_rows += [(f"Data {basename(c.data_path) if c.data_path else '(DataFrame, as CSV)'}", data_hash)]
    if ref_hash:
        appendix_rows.append(("Reference data", ref_hash))
    appendix_rows += [("Pack " + " + ".join(c.pack.describe()["files"]) + " (merged)", c.pack.sha256),
                      (f"Template {tpl['name']} (with what it extends)", tpl["sha256"])]
    appendix_rows += [(f"  {k}", v) for k, v in tpl["files"].items()]
    settings_rows = [("Seed", str(st.seed)), ("Decision threshold", f"{c.threshold:g}"),
                     ("Explanation", f"{spec.explanation.method} {spec.explanation.options or ''}".strip()),
                     ("Calibration bins", str(st.calibration_bins)), ("Subgroup minimum rows", str(st.subgroup_min_rows)),
                     ("Permutation repeats", str(st.permutation_repeats)),
                     ("Dependence sample", f"{st.dependence_max_points:,} rows, top {st.dependence_top_k} features"),
                     ("Surrogate depth", str(st.surrogate_max_depth)),
                     ("Faithfulness / stability rows", f"{st.faithfulness_rows} / {st.stability_rows} (radius {st.stability_radius:g} SD)"),
                     ("Counterfactual sample", str(st.counterfactual_rows))]
    appendix = {"id": "appendix", "title": "Reproducibility appendix", "blocks": [
        paragraph("Re-running the same command with the same files and software versions reproduces this report; "
                  "the full JSON record of every figure is embedded in the PDF (attachment audit_record.json) and in the HTML."),
        table(["Artefact", "SHA-256"], [[cell(a), cell(b)] for a, b in appendix_rows], caption="Hashes", sortable=False),
        table(["Package", "Version"], [[cell(k), cell(v)] for k, v in software.items()], caption="Software", sortable=False),
        table(["Setting", "Value"], [[cell(k), cell(v)] for k, v in settings_rows], caption="Settings and seeds", sortable=False),
    ]}
    refs = list(asec.references) if asec else []
    if refs or spec.regulatory_references:
        appendix["blocks"].append(table(["Citation", "Title"], [[cell(r.citation), cell(r.title or "")] for r in refs + list(spec.regulatory_references)],
                                        caption="References", sortable=False))
    provenance = {"model_sha256": model_hash, "model_file_sha256": file_hash, "data_sha256": data_hash,
                  "reference_sha256": ref_hash, "pack": c.pack.describe(), "template": tpl, "software": software,
                  "settings": st.model_dump(), "threshold": c.threshold, "date": c.date, "date_source": c.date_source}
    c.results["findings_counts"] = counts

    order = ["identification", "summary", "scope", "model", "data", "performance", "importance", "dependence",
             "surrogate", "explanation_quality", "reasons", "recourse", "fairness", "limitations", "monitoring",
             "signoff", "appendix"]
    pool = {**built, "identification": ident, "summary": summary, "scope": scope, "model": model_sec,
            "limitations": limitations, "monitoring": monitoring, "signoff": signoff, "appendix": appendix}
    sections = [pool[k] for k in order if k in pool]
    for i, s in enumerate(sections, 1):
        s["number"] = i
    return AuditReport(title=title, date=c.date, sections=jsonable(sections), results=jsonable(c.results),
                       findings=findings, figures=jsonable(c.figures), pack=c.pack, provenance=jsonable(provenance))


def _current_monitoring_values(c: AuditContext) -> list[tuple[str, str]]:
    out = []
    perf = c.results.get("performance", {}).get("overall", {})
    if perf:
        out.append(("AUC on the labelled data", fixed(perf.get("auc"))))
        out.append(("Expected calibration error", fixed(perf.get("ece"))))
    fr = c.results.get("fairness", {})
    for a in c.protected:
        if isinstance(fr.get(a), dict):
            for g in fr[a]["groups"]:
                if g.get("assessed") and not g.get("is_reference"):
                    out.append((f"AIR, {c.feature_label(a)} = {g['label']}", fixed(g["air"])))
    rs = c.results.get("reasons", {})
    if rs.get("computed") and rs["denied"]:
        out.append(("Share of denials flagged for no valid reason", percent(rs["flagged"] / rs["denied"], 2)))
    add = c.results.get("explanation_quality", {}).get("additivity")
    if add:
        out.append(("Largest additivity error", f"{add['max_abs_error']:.2e}"))
    return out
