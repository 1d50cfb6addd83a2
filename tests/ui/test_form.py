"""The notebook form: pre-filled, validated as the operator types, the reason next to the field."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from octorunbook import ui as forms
from octorunbook.headless.inline import run_inline
from octorunbook.params.core import Parameters
from octorunbook.ui import Form

ENV = "OCTORUNBOOK_TEST_FORM_PASSWORD"


@pytest.fixture(autouse=True)
def _no_password_variable(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(ENV, raising=False)
    forms.forget_forms()
    yield
    forms.forget_forms()


@pytest.fixture
def nowhere(tmp_path: Path) -> Parameters:
    """Parameters whose sandbox does not exist: the form must not create it."""
    return Parameters(sandbox_dir=str(tmp_path / "no-sandbox"), audit_dir=str(tmp_path / "audit"))


def message(form: Form, name: str) -> str:
    return str(form.messages[name].value)


def test_form_is_prefilled_from_the_parameters(nowhere: Parameters) -> None:
    params = Parameters(**{**nowhere.to_record(), "hostname": "octopus.example.com", "https_port": 8443})
    form = Form("03-add-https-binding", params)
    assert form.widgets["hostname"].value == "octopus.example.com"
    assert form.widgets["https_port"].value == 8443
    assert form.parameters() == params
    assert form.validate()
    assert "Ready" in form.status.value


def test_a_bad_hostname_says_why_next_to_the_field(nowhere: Parameters) -> None:
    form = Form("01-import-certificate", nowhere)
    form.widgets["hostname"].value = "octopus portal"
    assert "✖" in message(form, "hostname")
    assert "not a valid DNS name" in message(form, "hostname")
    assert "no spaces" in message(form, "hostname")
    assert "✖ 1 field" in form.status.value
    form.widgets["hostname"].value = "octopus.example.com"
    assert message(form, "hostname").startswith("<span") and "✔" in message(form, "hostname")


def test_a_missing_pfx_file_says_file_not_found(nowhere: Parameters, tmp_path: Path) -> None:
    form = Form("01-import-certificate", nowhere)
    form.widgets["certificate_source"].value = "pfx"
    assert "required for this certificate source" in message(form, "pfx_path")
    form.widgets["pfx_path"].value = str(tmp_path / "missing.pfx")
    assert "file not found" in message(form, "pfx_path")
    (tmp_path / "there.pfx").write_bytes(b"x")
    form.widgets["pfx_path"].value = str(tmp_path / "there.pfx")
    assert "✔" in message(form, "pfx_path")


def test_an_unset_password_variable_is_explained_and_the_password_field_offered(
    nowhere: Parameters, monkeypatch: pytest.MonkeyPatch
) -> None:
    form = Form("01-import-certificate", Parameters(**{**nowhere.to_record(), "pfx_password_env": ENV}))
    assert form.password_row.layout.display == "none"  # self-signed needs no password
    form.widgets["certificate_source"].value = "pfx"
    # An unset name may be the password pasted into the wrong field: only its length is said.
    said = message(form, "pfx_password_env")
    assert f"({len(ENV)} characters, not shown) is not set" in said and ENV not in said
    assert form.password_row.layout.display is None
    form.password.value = "typed-secret"
    assert "✔" in message(form, "pfx_password_env")
    form.password.value = ""
    monkeypatch.setenv(ENV, "from-the-environment")
    form.widgets["pfx_password_env"].value = ENV  # re-checked on the next change
    form.validate()
    assert f"{ENV} is set" in message(form, "pfx_password_env")


def test_a_password_instead_of_a_variable_name_is_refused(nowhere: Parameters) -> None:
    form = Form("01-import-certificate", nowhere)
    form.widgets["certificate_source"].value = "pfx"
    form.widgets["pfx_password_env"].value = "hunter2 !"
    assert "NAME of an environment variable" in message(form, "pfx_password_env")


def test_a_port_out_of_range_says_the_range(nowhere: Parameters) -> None:
    form = Form("03-add-https-binding", nowhere)
    form.widgets["https_port"].value = 70000
    assert "70000 is not a port: use 1-65535" in message(form, "https_port")
    assert not form.validate()
    form.widgets["https_port"].value = 8443
    assert form.validate()


def test_fields_follow_the_certificate_source_like_the_wizard(nowhere: Parameters) -> None:
    form = Form("01-import-certificate", nowhere)
    shown = {n for n, row in form.rows.items() if row.layout.display != "none"}
    assert {"key_type", "hostname"} <= shown and not {"pfx_path", "pem_key_path", "thumbprint"} & shown
    form.widgets["certificate_source"].value = "pem"
    shown = {n for n, row in form.rows.items() if row.layout.display != "none"}
    assert {"pem_cert_path", "pem_key_path"} <= shown and "key_type" not in shown


def test_take_password_reads_once_and_clears_the_widget(nowhere: Parameters) -> None:
    form = Form("01-import-certificate", nowhere)
    form.password.value = "s3cret-pfx-password"
    secret = form.take_password()
    assert secret is not None and secret.reveal() == "s3cret-pfx-password"
    assert form.password.value == ""
    assert form.take_password() is None


def test_the_password_never_appears_in_the_widget_state_after_take_password(nowhere: Parameters) -> None:
    form = Form("01-import-certificate", nowhere)
    form.password.value = "s3cret-pfx-password"
    form.take_password()
    states = [form.password.get_state(), form.widget().get_state()]
    states += [widget.get_state() for widget in form.widgets.values()]
    assert "s3cret-pfx-password" not in repr(states)
    assert "s3cret-pfx-password" not in repr(form.values()) + repr(form.parameters())


def test_running_the_form_cell_again_keeps_what_the_operator_typed(nowhere: Parameters) -> None:
    first = forms.start("01-import-certificate", nowhere.to_record())
    first.widgets["hostname"].value = "octopus.example.com"
    first.password.value = "typed"
    second = forms.start("01-import-certificate", nowhere.to_record())  # Run All runs the cell again
    assert second.widgets["hostname"].value == "octopus.example.com"
    assert second.take_password() is not None and first.password.value == ""
    # a value changed in the parameters cell since wins over the form
    third = forms.start("01-import-certificate", {**nowhere.to_record(), "hostname": "other.example.com"})
    assert third.widgets["hostname"].value == "other.example.com"


def test_a_store_missing_on_the_target_is_said_next_to_the_store(
    make_sandbox: Callable[..., Any], params_for: Callable[..., Parameters]
) -> None:
    sandbox = make_sandbox(webhosting=False, start=False)
    form = Form("02-verify-certificate", params_for(sandbox, store="WebHosting"))
    assert "WebHosting does not exist on this host" in message(form, "store")
    form.widgets["store"].value = "My"
    assert "✔" in message(form, "store")


def test_the_store_choice_lists_certificates_with_a_private_key_and_picking_fills_the_thumbprint(
    sandbox: Any, params_for: Callable[..., Parameters]
) -> None:
    imported = run_inline("01-import-certificate", params_for(sandbox, hostname="octopus.example.com"))
    thumbprint = imported["certificate"]["thumbprint"]
    form = Form("01-import-certificate", params_for(sandbox, hostname="octopus.example.com"))
    assert form.picker.options == ()  # lazily: nothing read before "store" is chosen
    form.widgets["certificate_source"].value = "store"
    assert "required" in message(form, "thumbprint")
    labels = dict((v, k) for k, v in form.picker.options)
    assert thumbprint in labels
    assert "octopus.example.com" in labels[thumbprint] and "expires" in labels[thumbprint]
    form.picker.value = thumbprint
    assert form.widgets["thumbprint"].value == thumbprint
    assert "✔" in message(form, "thumbprint") and "CN=" in message(form, "thumbprint")
    form.widgets["hostname"].value = "elsewhere.example.com"
    assert "browsers will warn" in message(form, "thumbprint")
    form.widgets["thumbprint"].value = "00" * 20
    assert "no such certificate" in message(form, "thumbprint")
    form.widgets["thumbprint"].value = "not-a-thumbprint"
    assert "40 hexadecimal characters" in message(form, "thumbprint")


def test_binding_follows_the_hostname_of_the_certificate_01_imported(
    sandbox: Any, params_for: Callable[..., Parameters]
) -> None:
    run_inline("01-import-certificate", params_for(sandbox, hostname="octopus.example.com"))
    form = Form("03-add-https-binding", params_for(sandbox))
    assert form.widgets["hostname"].value == "octopus.example.com"
    assert "from the certificate 01 imported last" in message(form, "hostname")
    assert "which 01 imported" in message(form, "thumbprint")
    explicit = Form("03-add-https-binding", params_for(sandbox, hostname="portal.example.com"))
    assert explicit.widgets["hostname"].value == "portal.example.com"


def test_a_failing_lookup_is_shown_on_the_form_not_raised(
    nowhere: Parameters, monkeypatch: pytest.MonkeyPatch
) -> None:
    form = Form("01-import-certificate", nowhere)

    def broken(store: str) -> bool:
        raise RuntimeError("the store went away")

    monkeypatch.setattr(form.view, "store_exists", broken)
    form.widgets["store"].value = "WebHosting"  # the callback must not raise
    assert "the store went away" in message(form, "store")

    def explode(*_: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(form, "problems", explode)
    form.widgets["hostname"].value = "x.example.com"
    assert "boom" in form.status.value


def test_the_form_never_creates_the_sandbox(nowhere: Parameters) -> None:
    form = Form("01-import-certificate", nowhere)
    form.widgets["certificate_source"].value = "store"
    assert "does not exist yet" in str(form.picker_message.value)
    assert not Path(nowhere.sandbox_dir).exists()
    assert os.environ.get(ENV) is None


def test_the_inputs_summary_is_static_html_for_headless_readers(nowhere: Parameters) -> None:
    form = Form("03-add-https-binding", nowhere)
    panel = form.summary()
    assert "Portal hostname" in panel.html() and "localhost" in panel.text()


def test_the_renewal_form_shows_when_and_how_to_renew(nowhere: Parameters) -> None:
    params = Parameters(**{**nowhere.to_record(), "renew_before_days": 45, "retire_old": "remove"})
    form = Form("04-renew-certificate", params)
    assert form.widgets["renew_before_days"].value == 45
    assert tuple(form.widgets["retire_old"].options) == ("after-expiry", "remove")
    assert form.widgets["force_renew"].value is False
    form.widgets["renew_before_days"].value = -1
    assert form.parameters().check()[0].code == "RENEW_BEFORE_DAYS_INVALID"


@pytest.mark.parametrize(
    "runbook",
    ["01-import-certificate", "02-verify-certificate", "03-add-https-binding", "04-renew-certificate"],
)
@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"hostname": "octopus portal", "https_port": 70000},  # two fields marked ✖
        {"certificate_source": "pfx", "pfx_path": "/nowhere/portal.pfx", "pfx_password_env": ENV},
        {"certificate_source": "store", "store": "WebHosting"},
        {"target": "nginx", "front": "nginx"},
    ],
    ids=["defaults", "errors", "pfx", "store", "nginx"],
)
def test_a_headless_form_uses_and_shows_what_the_live_form_does(
    nowhere: Parameters, runbook: str, changes: dict[str, Any]
) -> None:
    """The inert widgets of a headless run (ui.inert) give the same values, the same problems, the same
    hidden fields and the same inputs panel as the live form; they send nothing and read no store list."""
    known = {k: v for k, v in changes.items() if k in Parameters.names()}
    params = Parameters(**{**nowhere.to_record(), **known})
    live = Form(runbook, params)
    forms.forget_forms()
    inert = Form(runbook, params, live=False)
    assert not hasattr(inert.widgets[next(iter(inert.widgets))], "comm")  # no widget model exists
    assert inert.values() == live.values()
    assert inert.parameters() == live.parameters()
    assert inert.problems() == live.problems()
    assert inert.validate() == live.validate()
    assert inert.status.value == live.status.value
    assert {n: r.layout.display for n, r in inert.rows.items()} == {
        n: r.layout.display for n, r in live.rows.items()
    }
    assert inert.password_row.layout.display == live.password_row.layout.display
    assert inert.summary().html() == live.summary().html()
    assert list(inert.picker.options) == []  # the store list is for someone to pick from: never read headless
