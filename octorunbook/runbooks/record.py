"""The result record, typed in one place: what every runbook emits as ``application/vnd.octorunbook.result+json``.

The record is the contract for anyone who parses the audit trail (a SIEM, a change ticket, ``fleet
summary``), so its fields are declared here once — :class:`ResultRecord` and the two open parts a runbook
fills in as it goes, :class:`RunState` (``state``: what the target looked like before and after) and
:class:`RunExtras` (the runbook's own sections: ``plan``, ``tls``, ``posture`` …). mypy holds every
writer to these keys. :func:`json_schema` turns the declarations into the JSON Schema published as
``docs/result-record.schema.json`` (``python -m octorunbook.runbooks.record`` prints it); tests validate every
record they produce against it.

Annotations here are evaluated (no postponed annotations): a ``TypedDict`` only sees ``NotRequired``
when it is a real object, not a string.
"""

import json
import sys
import types
import typing
from typing import Any, Literal, NotRequired, TypedDict, Union

SCHEMA_ID = "https://octorunbook.invalid/schemas/result-record.schema.json"
MIME = "application/vnd.octorunbook.result+json"

Status = Literal["succeeded", "unchanged", "planned", "failed"]


class FindingRecord(TypedDict):
    code: str
    severity: Literal["error", "warning", "info"]
    message: str
    remedy: str
    reason: NotRequired[str]
    details: NotRequired[dict[str, Any]]


class ChangeRecord(TypedDict):
    action: str
    detail: str
    at: NotRequired[str]
    thumbprint: NotRequired[str]  # an import: the certificate it put into a store
    store: NotRequired[str]
    url: NotRequired[str]  # an ACME account: where the CA keeps it
    order: NotRequired[str]  # an ACME order: where the CA keeps it


class CheckRecord(TypedDict):
    check: str
    expected: Any
    seen: Any
    ok: bool
    code: NotRequired[str | None]


# ``state``: what the target looked like. ``import`` is a keyword, hence the functional form.
RunState = TypedDict(
    "RunState",
    {
        "before": Any,
        "after": Any,
        "import": Any,
        "interrupted_snapshot": Any,
        "acme_bad_nonce_retries": int,
        "acme_listener": list[dict[str, Any]],
        "acme_replaces": str,  # 04: the RFC 9773 certID of the certificate a due ARI renewal replaces
    },
    total=False,
)


class RunExtras(TypedDict, total=False):
    """The runbook-specific sections of the record, each written by the runbook that owns it."""

    implementations: dict[str, str]  # store / front / instance kinds that ran
    plan: list[dict[str, Any]]  # the plan rows: setting, current, desired, changes
    plan_commands: list[str]
    tls: dict[str, Any]  # what the portal served over TLS at the proof
    posture: dict[str, Any] | None  # 05 and posture checks: the scan
    hardening_plan: dict[str, Any]
    hardening_commands: list[list[str]]
    schannel_backup: dict[str, Any]
    interrupted_change: dict[str, Any]  # the checkpoint an earlier, killed run left (restored first)
    retired: dict[str, Any]  # 04: what happened to the old certificate
    swap: dict[str, Any]  # 04 on HTTP.sys: how the binding was swapped and which settings were carried
    check: dict[str, Any]  # the expiry check
    acme: dict[str, Any]  # the ACME order: CA, account, authorisations, certificate
    ari: dict[str, Any]  # 04: the CA's renewal information (RFC 9773): window, chosen time, explanationURL


class ResultRecord(RunExtras):
    """One runbook execution, as emitted on success and on failure (secrets redacted)."""

    runbook: str
    status: Status
    target: str
    host: str
    instance: str
    operator: str
    started_at: str
    finished_at: str
    octorunbook_version: str
    environment: dict[str, Any]
    octopus_version: str
    parameters: dict[str, Any]
    certificate: dict[str, Any] | None
    changes: list[ChangeRecord]
    state: RunState
    verification: list[CheckRecord]
    findings: list[FindingRecord]
    commands: list[dict[str, Any]]
    secrets: dict[str, Any]


def _schema_of(hint: Any) -> dict[str, Any]:
    """The JSON Schema of one annotation (the subset the record uses)."""
    if hint is Any:
        return {}
    origin = typing.get_origin(hint)
    if origin in (NotRequired, typing.Required):
        return _schema_of(typing.get_args(hint)[0])
    if origin is Literal:
        return {"enum": list(typing.get_args(hint))}
    if origin in (Union, types.UnionType):
        return {"anyOf": [_schema_of(arg) for arg in typing.get_args(hint)]}
    if origin is list:
        (item,) = typing.get_args(hint)
        return {"type": "array", "items": _schema_of(item)}
    if origin is dict:
        _, value = typing.get_args(hint)
        return {"type": "object", "additionalProperties": _schema_of(value)}
    if typing.is_typeddict(hint):
        return _typed_dict_schema(hint)
    simple = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}
    if hint in simple:
        return {"type": simple[hint]}
    raise TypeError(f"no JSON Schema for {hint!r}")


def _typed_dict_schema(cls: Any) -> dict[str, Any]:
    hints = typing.get_type_hints(cls, include_extras=True)
    required = sorted(k for k in hints if k in cls.__required_keys__)
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {key: _schema_of(hint) for key, hint in hints.items()},
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    if cls.__doc__ and cls.__doc__ is not TypedDict.__doc__:
        schema["description"] = " ".join(cls.__doc__.split())
    return schema


def json_schema() -> dict[str, Any]:
    """The published schema of a result record (draft 2020-12)."""
    schema = _typed_dict_schema(ResultRecord)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": f"octorunbook result record ({MIME})",
        **schema,
    }


def require_valid(record: Any) -> None:
    """Raise ``ValueError`` naming the first field of ``record`` the published schema refuses.

    Only the test suite calls it (``OCTORUNBOOK_CHECK_RECORDS``), in kernels JupyterLab, Voilà and nbval
    start too: the schema asks for no ``iri`` format, so jsonschema is imported without those grammars
    (``jsontext.skip_iri_grammars``: ≈ 0.9 s of CPU per kernel otherwise)."""
    from octorunbook.jsontext import skip_iri_grammars

    skip_iri_grammars()
    import jsonschema  # type: ignore[import-untyped]  # nbformat's own dependency

    validator = jsonschema.Draft202012Validator(json_schema())
    errors = sorted(validator.iter_errors(json.loads(json.dumps(record))), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(top)"
        raise ValueError(
            f"result record does not fit docs/result-record.schema.json at {where}: {first.message}"
        )


def main() -> int:
    sys.stdout.write(json.dumps(json_schema(), indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
