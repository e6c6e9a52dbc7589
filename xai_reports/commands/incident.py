"""``xai-reports incident``: an incident explanation report for a driving clip."""

from __future__ import annotations

import sys


def add_parser(sub, name):
    p = sub.add_parser(name, help="write a driving incident explanation report for a clip",
                       description="Replay a clip through the decision model (and planner), explain the key "
                                   "frames (Grad-CAM, integrated gradients, occlusion) and the planner's signals "
                                   "(TreeSHAP), and write the incident report (PDF with the JSON record embedded, "
                                   "and the JSON record). Exit 0: written; 2: nothing written (bad clip, incident "
                                   "file, pack or model).")
    p.add_argument("--pack", default="autonomous_driving",
                   help="pack name (autonomous_driving) or path to a pack.yaml / folder")
    p.add_argument("--model", required=True,
                   help="decision model: a state dict for the pack's architecture, a TorchScript archive or an "
                        "ONNX graph (form read from the content; ONNX runs occlusion only), or a folder holding one "
                        ".pt/.pth/.onnx and optionally planner_xgb.json")
    p.add_argument("--planner", help="planner model, XGBoost .json/.ubj (default: planner_xgb.json in the model folder)")
    p.add_argument("--clip", required=True, help="clip folder (clip.json, signals.csv, frames/), an MCAP log with ROS 2 "
                                                "messages (FILE.mcap), a ROS 1 bag (FILE.bag) or a ROS 2 bag folder "
                                                "(metadata.yaml inside); logs are read through the pack's "
                                                "incident.log_topics")
    p.add_argument("--detector", help="the team's own detector: TorchScript (.pt), ONNX (.onnx) or a torchvision state "
                                      "dict, as the pack's incident.perception_model says; explained on the key frames")
    p.add_argument("--incident", required=True, help="incident file (YAML): facts and safety analysis")
    p.add_argument("--out", required=True, help="output file, e.g. incident.pdf (other formats use the same stem)")
    p.add_argument("--format", default="pdf,json", help="comma-separated: pdf,html,json (default: pdf,json)")
    p.add_argument("--key-file", help="sign the manifest (<stem>.manifest.json) with the HMAC key in this file "
                                      "(default: $XAI_REPORTS_SIGNING_KEY / $XAI_REPORTS_SIGNING_KEY_FILE)")
    p.add_argument("--key-env", help="sign the manifest with the HMAC key in this environment variable")
    p.add_argument("--strict", action="store_true",
                   help="exit 2 and write nothing when a fact of the incident file contradicts the log")
    p.add_argument("--sgo-out", help="also write the NHTSA SGO data elements to this .csv or .json file")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=run)
    return p


def run(args):
    from ..io.staging import Staging

    with Staging() as staging:  # URLs: inputs copied to a private folder, outputs written there then committed
        return _run(args, staging)


def _run(args, staging):
    from ..documents.incident import generate_incident_report
    from ..integrity import signing_key
    from ..io.outputs import check_writable_file

    out = staging.output_file(args.out)
    check_writable_file(out)
    sgo_out = staging.output_file(args.sgo_out) if args.sgo_out else None
    res = generate_incident_report(staging.input(args.model), staging.input(args.clip), staging.input(args.incident),
                                   out, args.pack, planner=staging.input(args.planner),
                                   formats=[f.strip() for f in args.format.split(",") if f.strip()],
                                   progress=not args.quiet and sys.stderr.isatty(),
                                   key=signing_key(key_file=args.key_file, key_env=args.key_env),
                                   strict=args.strict, sgo_out=sgo_out,
                                   detector=staging.input(args.detector))
    staging.commit()  # URLs: the report's objects, the manifest last
    rec = res["record"]
    for f in rec["cross_check"]:
        if not f["agrees"]:
            print(f"finding: {f['item']}: the incident file says {f['incident']}, the log {f['log']}")
    for kf in rec["key_frames"]:
        occ = kf["occlusion_test"]
        named = kf["named_object"] or "no single object"
        check = "" if not (occ and kf["named_object"]) else (
            " (occlusion test: decision changes without it)" if occ["decision_changed"]
            else " (occlusion test: decision does NOT change without it)")
        print(f"t = {kf['t_s']:.1f} s: decision '{kf['decision']}', driven by {named}{check}")
    print("wrote " + ", ".join(staging.show(p) for p in [*res["files"], res["manifest"]] + ([res["sgo"]] if res["sgo"] else [])))
    return 0
