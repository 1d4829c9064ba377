"""Money: the Facts ledger, Configs and pricing, the billing run, invoices (DESIGN.md, "money path")."""

from z0.billing.configs import ConfigNotFound, ConfigStore, ConfigVersion, EffectiveConfig, Pricing
from z0.billing.facts import FACT_KINDS, PLATFORM_ENTITY, Fact, FactDraft, FactNotFound, Ledger
from z0.billing.invoices import Invoice, InvoiceLine, InvoiceNotFound, InvoiceStore, render_html
from z0.billing.periods import Period
from z0.billing.runs import BillingResult, BillingRun

__all__ = [
    "FACT_KINDS",
    "PLATFORM_ENTITY",
    "BillingResult",
    "BillingRun",
    "ConfigNotFound",
    "ConfigStore",
    "ConfigVersion",
    "EffectiveConfig",
    "Fact",
    "FactDraft",
    "FactNotFound",
    "Invoice",
    "InvoiceLine",
    "InvoiceNotFound",
    "InvoiceStore",
    "Ledger",
    "Period",
    "Pricing",
    "render_html",
]
