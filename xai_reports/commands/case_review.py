"""``xai-reports case-review``: a clinician case-review sheet for each case."""

from __future__ import annotations

import sys

from ..batch.cli import INTERRUPTED, add_batch_arguments, batch_kwargs, print_batch_summary


def add_parser(sub, name):
    p = sub.add_parser(name, help="write clinician case-review sheets",
                       description="Write a clinician case-review sheet (PDF with the JSON record embedded, HTML, "
                                   "JSON record) for each case, under a print profile. Exit 0: every case got a "
                                   "sheet; 3: some rows had bad values (listed); 2: nothing written (bad file, "
                                   "pack, model or profile).")
    p.add_argument("--pack", required=True, help="pack name (e.g. healthcare) or path to a pack.yaml / folder; its kinds include case_review")
    p.add_argument("--model", required=True,
                   help="model file, with its <stem>.card.json beside it: tabular, any format --model reads "
                        "(XGBoost, LightGBM, CatBoost, .skops, .onnx, scorecard; README 'Model formats'); image, a "
                        "torch state dict .pt, TorchScript .pt or .onnx; or a transformers text-classifier folder "
                        "(config.json, model.safetensors, tokenizer), whose sheets explain the report text")
    p.add_argument("--data", required=True, help="cases, CSV or Parquet")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--profile", help="print profile: treatment (identifiers shown) or research (HIPAA Safe Harbor "
                                     "de-identified); default: the pack's default (research for the shipped pack)")
    p.add_argument("--images", help="folder of the image files named in the data (image models): PNG, TIFF, BMP, "
                   "JPEG, or DICOM (a .dcm file, a multi-frame file, or a folder holding one series)")
    p.add_argument("--text-column", default="report_text",
                   help="text models: the column holding the report text (default: report_text)")
    p.add_argument("--method", default="text_integrated_gradients",
                   help="text models: text_integrated_gradients (default), text_lrp, text_attention_rollout or "
                        "text_attention_flow")
    p.add_argument("--architecture", metavar="MODULE:FACTORY",
                   help="the team's own network builder for a state dict (e.g. mynets.chest:build), importable from "
                        "the current environment; must equal the pack's architecture. Code is imported only when "
                        "named here")
    p.add_argument("--card", help="model card (default: <model stem>.card.json next to the model)")
    p.add_argument("--format", default="pdf,html,json", help="comma-separated: pdf,html,json (default: all)")
    p.add_argument("--key-file", help="sign manifest.json with the HMAC key in this file "
                                      "(default: $XAI_REPORTS_SIGNING_KEY / $XAI_REPORTS_SIGNING_KEY_FILE)")
    p.add_argument("--key-env", help="sign manifest.json with the HMAC key in this environment variable")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_batch_arguments(p)
    p.set_defaults(func=run)
    return p


def print_summary(summary, out, stream=None):
    print_batch_summary(summary, f"{summary.rows} cases: {summary.sheets} case-review sheets ({summary.profile} "
                                 f"profile, model {summary.model}) written to {out}",
                        [f"out of scope (see the sheet's input flags): {c}" for c in summary.flagged_out_of_scope],
                        stream)


def run(args):
    from ..documents.case_review import generate_case_reviews
    from ..integrity import signing_key
    from ..io.outputs import check_writable_dir

    from ..io.storage import is_remote, scrub

    if not is_remote(args.out):  # a bucket is probed by the engine
        check_writable_dir(args.out)
    from ..documents.case_review.text_job import generate_text_case_reviews, is_text_model_folder

    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    if is_text_model_folder(args.model):
        summary = generate_text_case_reviews(args.model, args.data, args.pack, args.out, profile=args.profile,
                                             text_column=args.text_column, method=args.method, formats=formats,
                                             key=signing_key(key_file=args.key_file, key_env=args.key_env))
        print_summary(summary, scrub(args.out))
        return summary.exit_code
    try:
        summary = generate_case_reviews(args.model, args.data, args.pack, args.out, profile=args.profile,
                                        images=args.images, card=args.card, architecture=args.architecture,
                                        formats=[f.strip() for f in args.format.split(",") if f.strip()],
                                        progress=not args.quiet and sys.stderr.isatty(),
                                        key=signing_key(key_file=args.key_file, key_env=args.key_env),
                                        **batch_kwargs(args))
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return 130
    print_summary(summary, scrub(args.out))
    return summary.exit_code
