"""``xai-reports model-card``: build an image model's card from the team's calibration and test data."""

from __future__ import annotations


def add_parser(sub, name):
    p = sub.add_parser(name, help="build a case-review model card from your own calibration and test data",
                       description="Build <model stem>.card.json and <model stem>.reference.npz beside an image "
                                   "model from the team's data: calibration (Platt or isotonic, temperature, per-label Platt) "
                                   "and the conformal quantile from the calibration split, held-out metrics from "
                                   "the test split, input ranges and reference cases from the calibration images. "
                                   "A split is a CSV/Parquet file with the pack's image column and 'label' (class "
                                   "name; multi-label: labels separated by ';'). Exit 0: card written; 2: nothing "
                                   "written.")
    p.add_argument("--pack", required=True, help="pack name or path; the model is declared under case_review.models")
    p.add_argument("--model-id", required=True, help="the model's key under case_review.models")
    p.add_argument("--model", required=True, help="model file (state dict .pt, TorchScript .pt or .onnx); for a URL "
                                                  "(s3://...) the card is written beside it in the bucket")
    p.add_argument("--calibration", required=True, help="calibration split, CSV or Parquet")
    p.add_argument("--test", required=True, help="held-out test split, CSV or Parquet")
    p.add_argument("--images", required=True, help="folder of the images the splits name")
    p.add_argument("--architecture", metavar="MODULE:FACTORY",
                   help="the team's own network builder (when the pack names one); code is imported only when "
                        "named here")
    p.add_argument("--calibration-method", choices=["platt", "isotonic", "temperature", "platt_per_label"],
                   help="default: the one that fits the model's output")
    p.add_argument("--trained-on", default="not stated", help="training date recorded in the card")
    p.add_argument("--data-description", help="one line on the data (recorded in the card, printed on sheets)")
    p.set_defaults(func=run)
    return p


def run(args):
    from ..documents.case_review.card_builder import build_model_card
    from ..io.remote import parent_url
    from ..io.staging import Staging
    from ..io.storage import is_remote

    with Staging() as staging:  # a model URL: the card and reference set are written beside it in the bucket
        model = args.model
        if is_remote(model):
            model = staging.input(model, into=staging.output_folder(parent_url(model)))
            staging.keep_out(model)   # the model is an input: only the card and reference set are committed
        path = build_model_card(model, args.pack, args.model_id, calibration=args.calibration, test=args.test,
                                images=args.images, architecture=args.architecture,
                                calibration_method=args.calibration_method, trained_on=args.trained_on,
                                data_description=args.data_description)
        staging.commit()
        print(f"model card written: {staging.show(path)}")
    return 0
