"""The form's nginx fields: present only when the parameters have them, shown only when nginx terminates TLS."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from octorunbook import ui as forms
from octorunbook.params.core import Parameters
from octorunbook.params.runbooks import PARAMETERS
from octorunbook.ui import Form
from octorunbook.ui.fields import NGINX_ONLY

NGINX_FIELDS = ("front", *NGINX_ONLY)

# Parameters as the nginx target's params.py declares them (this form must not depend on that version).
NginxParameters = dataclasses.make_dataclass(
    "NginxParameters",
    [
        ("front", str, dataclasses.field(default="httpsys")),
        ("nginx_bin", str, dataclasses.field(default="/usr/sbin/nginx")),
        ("nginx_conf_dir", str, dataclasses.field(default="/etc/nginx/conf.d")),
        ("nginx_pid", str, dataclasses.field(default="/run/nginx.pid")),
        ("cert_dir", str, dataclasses.field(default="/etc/octorunbook/certs")),
        ("octopus_upstream", str, dataclasses.field(default="http://127.0.0.1:8080")),
    ],
    bases=(Parameters,),
    frozen=True,
)


@pytest.fixture(autouse=True)
def _fresh_kernel() -> Iterator[None]:
    forms.forget_forms()
    yield
    forms.forget_forms()


def shown(form: Form, name: str) -> bool:
    return form.rows[name].layout.display != "none"


def test_the_form_leaves_out_fields_the_parameters_do_not_have(tmp_path: Path) -> None:
    params = Parameters(sandbox_dir=str(tmp_path / "no-sandbox"), audit_dir=str(tmp_path / "audit"))
    form = Form("03-add-https-binding", params)
    for name in NGINX_FIELDS:
        assert (name in form.widgets) == hasattr(params, name), name
    assert form.validate()


def test_nginx_fields_show_only_when_nginx_is_the_front(tmp_path: Path) -> None:
    params = NginxParameters(sandbox_dir=str(tmp_path / "no-sandbox"), audit_dir=str(tmp_path / "audit"))
    form = Form("03-add-https-binding", params)
    assert set(NGINX_FIELDS) <= set(form.widgets)
    assert tuple(form.widgets["front"].options) == ("httpsys", "nginx")
    assert shown(form, "front")
    assert not any(shown(form, name) for name in NGINX_ONLY)
    assert "nginx binary" not in form.summary().text()
    form.widgets["front"].value = "nginx"
    assert all(shown(form, name) for name in NGINX_ONLY)
    assert form.widgets["octopus_upstream"].value == "http://127.0.0.1:8080"
    assert "nginx binary" in form.summary().text()
    form.widgets["front"].value = "httpsys"
    assert not any(shown(form, name) for name in NGINX_ONLY)
    assert form.values()["nginx_bin"] == "/usr/sbin/nginx"  # hidden, kept


def test_each_runbook_asks_only_for_the_nginx_facts_it_uses(tmp_path: Path) -> None:
    params = NginxParameters(sandbox_dir=str(tmp_path / "no-sandbox"), audit_dir=str(tmp_path / "audit"))
    asked = {rb: {n for n in NGINX_FIELDS if n in Form(rb, params).widgets} for rb in forms.FIELDS}
    assert asked["01-import-certificate"] == {"front", "cert_dir"}
    assert asked["02-verify-certificate"] == {"front", "nginx_bin", "cert_dir"}
    assert asked["03-add-https-binding"] == set(NGINX_FIELDS)
    assert asked["04-renew-certificate"] == set(NGINX_FIELDS)
    assert asked["05-harden-tls"] == {"front"}


def test_a_form_shows_only_parameters_its_runbook_reads() -> None:
    from octorunbook.ui.fields import FIELDS

    assert {
        runbook: [n for n in names if n not in PARAMETERS[runbook]] for runbook, names in FIELDS.items()
    } == {runbook: [] for runbook in FIELDS}
