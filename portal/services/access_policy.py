"""The access system's policy lists, defined once (the README's "Access to data" section lists them too):

- :data:`MAX_GRANT_DAYS`: the longest grant per sensitivity level;
- :data:`PURPOSE_CODES`: what data may be asked for;
- :data:`LEGAL_GROUNDS`: the legal ground a request rests on (the AVG article with the specific law);
- :data:`MAX_START_AHEAD_DAYS`: how far ahead a period may start (later is "future-dated": ask closer to the time).
"""

from __future__ import annotations

from ..models import SensitivityLevel

#: The longest period (days, first and last day included) a grant may last, per sensitivity level.
MAX_GRANT_DAYS: dict[SensitivityLevel, int] = {
    SensitivityLevel.PUBLIC: 365,
    SensitivityLevel.INTERNAL: 180,
    SensitivityLevel.CONFIDENTIAL: 90,
    SensitivityLevel.SPECIAL: 30,
}

MAX_START_AHEAD_DAYS = 30

#: code → (Dutch, English)
PURPOSE_CODES: dict[str, tuple[str, str]] = {
    "statistics": ("Statistiek: officiële statistieken maken", "Statistics: producing official statistics"),
    "policy-evaluation": ("Beleidsevaluatie en beleidsonderzoek", "Policy evaluation and policy research"),
    "supervision": ("Toezicht en handhaving", "Supervision and enforcement"),
    "public-task": ("Uitvoering van een publieke taak (dienstverlening)", "Carrying out a public task (services)"),
    "scientific-research": ("Wetenschappelijk onderzoek", "Scientific research"),
}

#: code → (Dutch, English): the AVG article and the specific law it rests on.
LEGAL_GROUNDS: dict[str, tuple[str, str]] = {
    "avg-6-1-e-cbs-wet": ("AVG art. 6 lid 1 sub e, met de Wet op het Centraal bureau voor de statistiek (art. 3, 33)",
                          "GDPR art. 6(1)(e), with the Statistics Netherlands Act (art. 3, 33)"),
    "avg-6-1-e-cw2016": ("AVG art. 6 lid 1 sub e, met de Comptabiliteitswet 2016 (art. 3.1: beleidsevaluatie)",
                         "GDPR art. 6(1)(e), with the Government Accounts Act 2016 (art. 3.1: policy evaluation)"),
    "avg-6-1-c-wbag": ("AVG art. 6 lid 1 sub c, met de Wet basisregistratie adressen en gebouwen",
                       "GDPR art. 6(1)(c), with the Key Register of Addresses and Buildings Act"),
    "avg-6-1-e-wvw1994": ("AVG art. 6 lid 1 sub e, met de Wegenverkeerswet 1994 (kentekenregister, art. 41a)",
                          "GDPR art. 6(1)(e), with the Road Traffic Act 1994 (vehicle register, art. 41a)"),
    "avg-89-uavg-24": ("AVG art. 89, met UAVG art. 24 (wetenschappelijk onderzoek en statistiek)",
                       "GDPR art. 89, with the GDPR Implementation Act art. 24 (scientific research and statistics)"),
    "woo-hergebruik": ("Geen persoonsgegevens: Wet open overheid en Wet hergebruik van overheidsinformatie",
                       "No personal data: Open Government Act and Re-use of Government Information Act"),
}


def label(table: dict[str, tuple[str, str]], code: str, language: str) -> str:
    pair = table.get(code)
    return code if pair is None else pair[1 if language == "en" else 0]
