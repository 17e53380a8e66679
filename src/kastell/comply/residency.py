"""Residency and sovereignty: where weights, datasets, keys, logs and endpoints live.

The deployment descriptor declares each asset's country, provider and the provider's
jurisdiction. ``check_residency`` applies a ``ResidencyPolicy`` (default: EU/EEA only) and, when a
resolver is injected, checks that every endpoint host resolves only into its declared networks.
The check is pure: the resolver is an argument (``socket_resolver`` is the real one, used by the
CLI only on request).
"""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence

from kastell.comply.interface import ComplyUsageError, StepUnavailableError
from kastell.types import ControlId, Finding, Location, Severity

__all__ = [
    "EU_EEA",
    "AssetKind",
    "ResidencyDeclaration",
    "ResidencyPolicy",
    "Resolver",
    "check_residency",
    "compare_with_signed",
    "socket_resolver",
]

EU_EEA = frozenset(
    (
        *[
            "AT",
            "BE",
            "BG",
            "HR",
            "CY",
            "CZ",
            "DK",
            "EE",
            "FI",
            "FR",
            "DE",
            "GR",
            "EL",
            "HU",
            "IE",
            "IT",
            "LV",
            "LT",
            "LU",
            "MT",
            "NL",
            "PL",
            "PT",
            "RO",
            "SK",
            "SI",
        ],
        *["ES", "SE", "IS", "LI", "NO", "EU"],
    )
)
"""ISO 3166-1 alpha-2 codes of the EU and EEA states (plus ``EL`` for Greece and ``EU``)."""

Resolver = Callable[[str], Sequence[str]]
"""Host name -> the IP addresses it resolves to."""


class AssetKind(enum.StrEnum):
    """What a residency declaration is about."""

    WEIGHTS = "weights"
    DATASET = "dataset"
    KEYS = "keys"
    LOGS = "logs"
    ENDPOINT = "endpoint"


_MAPPINGS: dict[AssetKind, tuple[str, ...]] = {
    AssetKind.WEIGHTS: ("AIA-55.1.d", "CRA-AI-I.2.e", "ENISA-AITL-LEG"),
    AssetKind.DATASET: ("AIA-17.1.f", "CRA-AI-I.2.g", "ENISA-AITL-LEG"),
    AssetKind.KEYS: ("AIA-55.1.d", "CRA-AI-I.2.e", "ENISA-AITL-PA"),
    AssetKind.LOGS: ("AIA-19", "AIA-26.6", "ENISA-AITL-LEG"),
    AssetKind.ENDPOINT: ("CRA-AI-I.2.e", "ENISA-AITL-EIH", "ENISA-AITL-LEG"),
}


@dataclasses.dataclass(frozen=True)
class ResidencyDeclaration:
    """Where one asset lives, as declared by the deployer."""

    name: str
    kind: AssetKind
    country: str
    provider: str
    provider_jurisdiction: str
    host: str | None = None
    """Endpoints only: the host name clients connect to."""
    networks: tuple[str, ...] = ()
    """Endpoints only: the CIDR networks the host may resolve into."""


@dataclasses.dataclass(frozen=True)
class ResidencyPolicy:
    """Which countries assets may sit in and which jurisdictions providers may answer to."""

    allowed_countries: frozenset[str] = EU_EEA
    allowed_jurisdictions: frozenset[str] = EU_EEA
    name: str = "EU/EEA only"


def _finding(rule: str, severity: Severity, title: str, message: str,
             declaration: ResidencyDeclaration) -> Finding:  # fmt: skip
    return Finding(
        rule_id=rule,
        severity=severity,
        title=title,
        message=message,
        location=Location(f"residency:{declaration.kind.value}:{declaration.name}"),
        mappings=tuple(ControlId(m) for m in _MAPPINGS[declaration.kind]),
    )


def _networks(
    declaration: ResidencyDeclaration,
) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    try:
        return [ipaddress.ip_network(n, strict=False) for n in declaration.networks]
    except ValueError as error:
        raise ComplyUsageError(
            f"residency endpoint {declaration.name!r}: bad network: {error}",
            hint="Write networks in CIDR form, e.g. 192.0.2.0/24.",
        ) from None


def _endpoint(declaration: ResidencyDeclaration, resolve: Resolver) -> list[Finding]:
    if not declaration.host:
        return []
    networks = _networks(declaration)
    addresses = [ipaddress.ip_address(a) for a in resolve(declaration.host)]
    if not networks:
        return [_finding("RES-004", Severity.MEDIUM, "Endpoint networks not declared",
                         f"{declaration.host} resolves to {', '.join(map(str, addresses))} but no "
                         "networks are declared to compare with", declaration)]  # fmt: skip
    stray = [a for a in addresses if not any(a in n for n in networks)]
    if not stray:
        return []
    return [_finding("RES-003", Severity.HIGH, "Endpoint resolves outside its declared networks",
                     f"{declaration.host} resolves to {', '.join(map(str, stray))}, outside "
                     f"{', '.join(declaration.networks)}", declaration)]  # fmt: skip


def check_residency(
    declarations: Iterable[ResidencyDeclaration],
    policy: ResidencyPolicy | None = None,
    resolver: Resolver | None = None,
) -> tuple[Finding, ...]:
    """Findings for every declaration the policy rejects (empty when all comply)."""
    rules = policy or ResidencyPolicy()
    findings: list[Finding] = []
    for declaration in declarations:
        country = declaration.country.upper()
        jurisdiction = declaration.provider_jurisdiction.upper()
        if country not in rules.allowed_countries:
            findings.append(_finding(
                "RES-001", Severity.HIGH, "Asset stored outside the allowed region",
                f"{declaration.kind.value} {declaration.name!r} is in {country}; policy "
                f"{rules.name!r} does not allow it", declaration))  # fmt: skip
        if jurisdiction not in rules.allowed_jurisdictions:
            findings.append(_finding(
                "RES-002", Severity.MEDIUM, "Provider subject to a non-allowed jurisdiction",
                f"{declaration.provider} ({declaration.kind.value} {declaration.name!r}) "
                f"answers to {jurisdiction}; foreign access laws may reach the data",
                declaration))  # fmt: skip
        if declaration.kind is AssetKind.ENDPOINT and resolver is not None:
            findings.extend(_endpoint(declaration, resolver))
    return tuple(findings)


_SIGNED_PARTS = {AssetKind.WEIGHTS: "weights", AssetKind.DATASET: "data", AssetKind.KEYS: "keys"}


def compare_with_signed(
    declarations: Iterable[ResidencyDeclaration], signed: Mapping[str, Mapping[str, str]]
) -> tuple[Finding, ...]:
    """Flag assets whose declared place differs from the signed deployment statement's.

    ``signed`` is the statement's ``residency`` predicate: ``weights``, ``data`` and ``keys``,
    each with ``country``, ``provider`` and ``jurisdiction``.
    """
    findings = []
    for declaration in declarations:
        part = _SIGNED_PARTS.get(declaration.kind)
        place = signed.get(part) if part else None
        if place is None:
            continue
        declared = (declaration.country.upper(), declaration.provider_jurisdiction.upper())
        attested = (
            str(place.get("country", "")).upper(),
            str(place.get("jurisdiction", "")).upper(),
        )
        if declared != attested:
            findings.append(_finding(
                "RES-005", Severity.HIGH, "Residency differs from the signed deployment statement",
                f"{declaration.kind.value} {declaration.name!r} is declared in {declared[0]} "
                f"({declared[1]} jurisdiction) but the signed statement says {attested[0]} "
                f"({attested[1]})", declaration))  # fmt: skip
    return tuple(findings)


def socket_resolver(host: str) -> Sequence[str]:
    """Resolve ``host`` with the system resolver (network I/O: the CLI's edge only)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError as error:
        raise StepUnavailableError(f"cannot resolve {host!r}: {error}") from None
    return sorted({str(info[4][0]) for info in infos})
