"""The ``letter:`` section of a pack (was ``finance:``): adverse-action letters."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_validator

from ..fields import KeyedError, Strict


class ReferencePopulation(Strict):
    """Reg B comment 9(b)(2)-5: the population reasons are measured against."""

    kind: Literal["all_applicants", "near_cutoff"] = "all_applicants"
    band: float = Field(default=0.05, gt=0, le=1, description="near_cutoff: approved rows with score within this of the threshold.")
    min_rows: int = Field(default=20, ge=1)
    description: Optional[str] = None

class Decision(Strict):
    positive_class: Literal["deny", "approve"] = Field(
        default="deny", description="What the model's positive output means: 'deny' (the model outputs "
                                    "P(deny)) or 'approve' (it outputs P(approve)); no other value.")
    threshold: float = Field(default=0.5, gt=0, lt=1, description="On the probability of the positive class.")
    action_taken: str = "We are unable to approve your application."
    credit_requested: str = "credit"


class Address(Strict):
    name: str
    address: list[str]
    phone: Optional[str] = None
    website: Optional[str] = None


class Institution(Strict):
    """The creditor. The shipped base pack leaves it to the lender: letters are refused until the
    lender's own pack sets the required fields (:data:`REQUIRED_FIELDS`)."""

    name: Optional[str] = None
    address: Optional[list[str]] = None
    phone: Optional[str] = None
    email: Optional[str] = None
    website: Optional[str] = None
    contact: Optional[str] = Field(default=None, description="Office or person to contact with questions.")
    agency: Optional[Address] = Field(default=None, description="The federal agency that administers ECOA compliance for this creditor (Reg B Appendix A).")


class CreditScore(Strict):
    used: bool = False
    column: Optional[str] = None
    date_column: Optional[str] = None
    key_factors_column: Optional[str] = Field(default=None, description="Column of key factors, separated by ';'.")
    range: Optional[tuple[int, int]] = None
    provider: Optional[Address] = None

    @model_validator(mode="after")
    def _complete(self):
        if self.used:
            missing = [k for k in ("column", "range", "provider") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"credit_score.used is true, so {', '.join(missing)} must be given")
        return self


class ConsumerReport(Strict):
    used: Optional[bool] = Field(default=None, description="Whether a consumer report was used (FCRA 615(a)); the lender says so.")
    agency: Optional[Address] = None

    @model_validator(mode="after")
    def _agency(self):
        if self.used and self.agency is None:
            raise ValueError("consumer_report.used is true, so 'agency' (name, address, phone) must be given")
        return self


class LetterSection(Strict):
    """What an adverse-action letter needs that the rest of the pack does not say (``letter:``)."""

    decision: Decision = Field(default_factory=Decision)
    max_reasons: int = Field(default=4, ge=1, le=4, description="Reg B comment 9(b)(2)-1: at most four.")
    min_contribution: float = Field(default=1e-6, ge=0, description="Smallest push toward denial that counts as a reason (margin units).")
    reference_population: ReferencePopulation = Field(default_factory=ReferencePopulation)
    institution: Institution = Field(default_factory=Institution)
    credit_score: CreditScore = Field(default_factory=CreditScore)
    consumer_report: ConsumerReport = Field(default_factory=ConsumerReport)
    ecoa_notice: bool = Field(
        default=True, description="Print the ECOA notice naming the federal agency (institution.agency required); "
                                  "false for adverse action outside credit (tenant screening, employment).")

    def check_pack(self, pack) -> None:
        """Letters state counterfactuals: every actionable feature needs its (English) ``action_text``.

        Other languages take ``features.<f>.translations.<lang>.action_text`` and the
        built-in (en, es) or pack ``counterfactuals.statement``; where one is missing,
        that language's letters make no statement and the record says why.
        """
        if not pack.counterfactuals.enabled:
            return
        for fname, feat in pack.features.items():
            if feat.actionable and feat.action_text is None:
                raise KeyedError(("features", fname, "action_text"),
                                 "an actionable feature needs 'action_text' (what a letter says could change, "
                                 "with {value}), or set counterfactuals.enabled: false")

    def completeness_gaps(self) -> list[tuple[str, str]]:
        """``[(key path, what it is)]`` the lender must still set before letters can be written."""
        gaps: list[tuple[str, str]] = []
        inst = self.institution
        for k, what in (("name", "the creditor's name"), ("address", "the creditor's address"),
                        ("phone", "the creditor's telephone number"),
                        ("contact", "the office to contact with questions")):
            if not getattr(inst, k):
                gaps.append((f"letter.institution.{k}", what))
        if self.ecoa_notice and inst.agency is None:
            gaps.append(("letter.institution.agency",
                         "the federal agency that administers ECOA compliance for this creditor (name, address)"))
        cr = self.consumer_report
        if cr.used is None:
            gaps.append(("letter.consumer_report.used", "whether a consumer report was used (true/false)"))
        elif cr.used and cr.agency is None:
            gaps.append(("letter.consumer_report.agency", "the consumer reporting agency (name, address, phone)"))
        return gaps
