"""The statistics in words (dashboard/i18n.py): names of measures, groupings and keys, and the
reason a weak spot is weak; the tables the exports write, column by column (only the columns
listed here leave the server: statistics carry no personal data, and nothing can slip in)."""
from __future__ import annotations

from typing import Mapping

from dashboard.i18n import STRINGS, t


ENTITY_CATEGORIES = ("food_retail", "catering", "industrial_products", "pharmacy", "special_equipment")


def key_name(key: str, by: str, lang: str, names: Mapping[str, str]) -> str:
    """A key as a person reads it: a grid's name, a category's, a month as is."""
    if by == "month":
        return key
    if key == "":
        return t("an_none", lang)
    if by == "category" and f"cat_{key}" in STRINGS:
        return t(f"cat_{key}", lang)
    return names.get(key, key)


def _pct(change: float | None, lang: str) -> str:
    if change is None:
        return ""
    pct = round(abs(change) * 100)
    return t("why_up" if change >= 0 else "why_down", lang, pct=pct)


def reason_text(reason: Mapping, lang: str) -> str:
    """One reason of a weak spot (casework.stats.weak's `reasons`) as a sentence."""
    code = reason["code"]
    params = {k: v for k, v in reason.items() if k != "code"}
    params["ratio"] = f"{reason.get('ratio', 0):.2f}"
    params["change"] = _pct(reason.get("change"), lang)
    out = t(f"why_{code}", lang, **params)
    return out


def weak_reasons(row: Mapping, lang: str) -> str:
    return "；".join(reason_text(r, lang) for r in row.get("reasons", [])) if lang == "zh" else \
        "; ".join(reason_text(r, lang) for r in row.get("reasons", []))


# the export tables: column -> header key (i18n) or literal
STATS_COLUMNS = ("key", "name", "value", "per_1000_entities", "previous", "change")
SUMMARY_COLUMNS = ("figure", "value")
WEAK_COLUMNS = ("key", "name", "score", "entities", "inspections", "failed_inspections", "failure_rate",
                "failure_rate_previous", "founded_complaints", "founded_rate", "founded_rate_previous",
                "founded_change", "reason")
FAILED_COLUMNS = ("uscc", "name", "category", "grid", "failed", "last")


def table(rows: list[Mapping], columns: tuple[str, ...]) -> tuple[list[str], list[list]]:
    """(header, rows) with only the listed columns."""
    return list(columns), [[r.get(c) for c in columns] for r in rows]
