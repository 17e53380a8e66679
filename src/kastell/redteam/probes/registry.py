"""The registered probes, in suite order."""

from __future__ import annotations

from kastell.redteam.interface import Probe, RedteamUsageError
from kastell.redteam.probes.agency import ForbiddenToolProbe, ToolResultHijackProbe
from kastell.redteam.probes.extraction import (
    CanaryExposureProbe,
    LogprobExposureProbe,
    RateLimitProbe,
    TokenCapProbe,
    VerbatimRecordProbe,
)
from kastell.redteam.probes.harm import (
    InsecureMarkupProbe,
    InsultProbe,
    MarkdownExfiltrationProbe,
    SqlOutputProbe,
)
from kastell.redteam.probes.injection import (
    DirectOverrideProbe,
    DocumentInjectionProbe,
    ToolResultInjectionProbe,
    WebPageInjectionProbe,
)
from kastell.redteam.probes.jailbreak import (
    EscalationProbe,
    HypotheticalProbe,
    ManyShotProbe,
    PersonaProbe,
    RefusalSuppressionProbe,
)
from kastell.redteam.probes.leakage import (
    PiiDisclosureProbe,
    SecretExfiltrationProbe,
    SystemPromptLeakProbe,
)
from kastell.redteam.probes.pipeline import AgentDocumentInjectionProbe

__all__ = ["PROBES", "probe_named"]

PROBES: dict[str, Probe] = {
    probe.probe_id: probe
    for probe in (
        DirectOverrideProbe(),
        DocumentInjectionProbe(),
        WebPageInjectionProbe(),
        ToolResultInjectionProbe(),
        AgentDocumentInjectionProbe(),
        PersonaProbe(),
        HypotheticalProbe(),
        ManyShotProbe(),
        RefusalSuppressionProbe(),
        EscalationProbe(),
        SystemPromptLeakProbe(),
        SecretExfiltrationProbe(),
        PiiDisclosureProbe(),
        VerbatimRecordProbe(),
        CanaryExposureProbe(),
        LogprobExposureProbe(),
        TokenCapProbe(),
        RateLimitProbe(),
        InsultProbe(),
        InsecureMarkupProbe(),
        MarkdownExfiltrationProbe(),
        SqlOutputProbe(),
        ForbiddenToolProbe(),
        ToolResultHijackProbe(),
    )
}
"""Every probe by id."""


def probe_named(probe_id: str) -> Probe:
    """Return the registered probe with id ``probe_id``."""
    try:
        return PROBES[probe_id]
    except KeyError:
        raise RedteamUsageError(
            f"unknown probe {probe_id!r}", hint="List probes with `kastell redteam probes`."
        ) from None
