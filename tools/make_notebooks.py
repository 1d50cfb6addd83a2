"""Writes notebooks/01 … 05 (committed without outputs); run it from the repository root after an edit.

Every notebook has one shape: the parameters cell (only the parameters that runbook reads, from
``octorunbook.params.runbooks``), the form (``ui.start``), the opened run (``ui.begin``), then one call
per verb on the module named after the runbook — read → plan → apply → finish — each under a markdown
cell that says what happens and what to do if it fails.
"""

import hashlib

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from octorunbook.params.runbooks import PARAMETERS

# One line per parameter: name, type, committed default (the sandbox, never a real server), and help.
# Each notebook's parameters cell is the lines of the parameters its runbook reads, in this order.
PARAMETER_LINES = """\
target: str = "sandbox"  # "sandbox": rehearse on this machine; "windows": this Octopus server (run as Administrator); "nginx": this Linux host, nginx in front of Octopus
sandbox_dir: str = ""  # sandbox host folder; empty: ~/.octorunbook/sandbox (created on first use)
instance: str = "OctopusServer"  # Octopus instance name, as Octopus Manager lists it
server_exe: str = ""  # path to Octopus.Server.exe; empty: registry InstallLocation, else the default install path
hostname: str = "localhost"  # the name browsers use for the portal; must be in the certificate's SAN
certificate_source: str = "self-signed"  # "self-signed" (new), "pfx" (file from your CA), "pem" (cert+key files), "store" (already imported, by thumbprint)
pfx_path: str = ""  # PFX/PKCS#12 file, for certificate_source "pfx"
pfx_password_env: str = "OCTORUNBOOK_PFX_PASSWORD"  # NAME of the environment variable holding the PFX password (never the password); every runbook keeps that password out of its output
pem_cert_path: str = ""  # PEM certificate (+ chain) file, for certificate_source "pem"
pem_key_path: str = ""  # PEM private key file, for certificate_source "pem"
thumbprint: str = ""  # certificate thumbprint (any form MMC shows); empty in 02/03: the one 01 imported last
store: str = "My"  # LocalMachine store: "My" (Personal) or "WebHosting" (exists only with IIS)
extra_dns_names: str = ""  # more SAN names for a new self-signed certificate, comma-separated
key_type: str = "rsa2048"  # new self-signed key: rsa2048, rsa3072, rsa4096, ecdsa-p256, ecdsa-p384
validity_days: int = 397  # new self-signed validity in days (browsers refuse more than 398 for public CAs)
pfx_encryption: str = "auto"  # PFX handed to Windows: "auto" (AES on build 17763+, else 3DES), "compatible", "aes"
exportable_key: bool = False  # allow exporting the private key from the store later
https_port: int = 443  # HTTPS port for the portal binding (sandbox maps privileged ports to free high ports)
keep_http: bool = True  # keep the existing http:// listen prefixes
force_ssl: bool = False  # redirect HTTP requests to the first HTTPS prefix (Octopus ForceSSL)
hsts_max_age: int = 0  # send Strict-Transport-Security with this max-age in seconds; 0: off (start with 3600)
dry_run: bool = False  # plan only: show current → desired and the commands, change nothing
rollback: bool = True  # on any failure restore the state before this run (False leaves it for inspection)
audit_dir: str = "audit"  # where executed notebooks (audit records) are written
renew_before_days: int = 0  # 04: 0: renew with a third of the certificate's lifetime left (half under 10 days); N: with fewer than N days left
force_renew: bool = False  # 04: replace it now whatever the expiry (a rotation, e.g. after a key compromise)
retire_old: str = "after-expiry"  # 04: old certificate after the proof: "after-expiry" (kept; rollback possible) or "remove"
posture: str = "default"  # TLS posture findings after the proof: "default" (warnings) or "strict" (errors: the proof fails)
apply: bool = False  # 05: apply the hardening plan (False: plan only)
schannel_cipher_order: bool = False  # 05 on old Windows: also write the machine-wide cipher suite order (outbound TLS too)
acme_directory: str = "https://acme-v02.api.letsencrypt.org/directory"  # certificate_source "acme": the CA's directory URL; "staging": Let's Encrypt staging
acme_email: str = ""  # acme: contact address for the CA account (optional)
acme_challenge: str = "http-01"  # acme: "http-01" (port 80 of this server reachable by the CA) or "dns-01" (acme_dns_hook)
acme_ca_bundle: str = ""  # acme: PEM file of the roots trusted for a private ACME CA's API; empty: the system's
acme_eab_kid: str = ""  # acme: external account binding key id (ZeroSSL, some private CAs)
acme_eab_hmac_env: str = ""  # acme: NAME of the environment variable holding the EAB HMAC key (never the key)
acme_dns_hook: str = ""  # acme dns-01: command run with OCTORUNBOOK_ACME_ACTION/RECORD_NAME/RECORD_VALUE in its environment
acme_dns_resolver: str = ""  # acme dns-01: DNS server (host[:port]) polled until the TXT record is visible; empty: the system's
front: str = "httpsys"  # what terminates TLS: "httpsys" (Windows) or "nginx" (Octopus on Linux); for the sandbox, its topology
nginx_bin: str = "/usr/sbin/nginx"  # target nginx: the nginx binary
nginx_conf_dir: str = "/etc/nginx"  # target nginx: nginx's configuration root (nginx.conf includes conf.d/*.conf)
nginx_pid: str = "/run/nginx.pid"  # target nginx: pid file of the running master (reload signals it)
cert_dir: str = "/etc/octorunbook/certs"  # target nginx: PEM store, one directory per thumbprint (key 0600, dir 0700)
octopus_upstream: str = "http://127.0.0.1:8080"  # target nginx: Octopus's plain-HTTP address nginx proxies to
acme_profile: str = ""  # acme: certificate profile the CA lists (e.g. "classic", "tlsserver", "shortlived"); empty: the CA's default
notify_env: str = ""  # NAME of the environment variable holding Apprise URLs (mailto://, Teams, Slack, json://…): failed runs and checks past WARNING notify them (never the URLs: they carry tokens)
"""

_LINES = {line.split(":", 1)[0]: line for line in PARAMETER_LINES.splitlines()}


def parameters_cell(runbook):
    names = PARAMETERS[runbook]
    missing = [n for n in names if n not in _LINES]
    if missing:
        raise SystemExit(f"no parameter line for {missing}: add it to PARAMETER_LINES")
    header = (
        f"# Parameters — the {len(names)} that {runbook[:2]} reads. One YAML file drives every runbook: "
        "`octorunbook run params.yaml` hands each notebook its own.\n"
        "# Secrets are never parameters: the PFX password comes from the environment variable named below.\n"
    )
    return header + "\n".join(_LINES[n] for n in names) + "\n"


def nb(runbook, title, intro, verbs, next_step, after=()):
    """A runbook notebook in the one shape; ``verbs`` is the markdown above read, plan and apply."""
    module = runbook[3:].replace("-", "_")  # 01-import-certificate -> runbooks/import_certificate.py
    read, plan, apply = verbs
    steps = [
        (
            FORM,
            f'{LAB_HINT}from octorunbook import ui\nfrom octorunbook.runbooks import {module}\n\nform = ui.start("{runbook}", globals())',
        ),
        (OPEN, "run = ui.begin(form)"),
        (read, f"current = {module}.read(run)"),
        (plan, f"plan = {module}.plan(run, current)"),
        (apply, f"{module}.apply(run, plan)"),
        (FINISH, f"record = {module}.finish(run)"),
        *after,
    ]
    cells = [new_markdown_cell(f"# {title}\n\n{intro}")]
    p = new_code_cell(parameters_cell(runbook))
    p.metadata["tags"] = ["parameters"]
    cells.append(p)
    for md, code in steps:
        cells.append(new_markdown_cell(md))
        cells.append(new_code_cell(code))
    cells.append(new_markdown_cell(next_step))
    book = new_notebook(cells=cells)
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    book.metadata["language_info"] = {"name": "python"}
    return book


# The markdown reads right in JupyterLab and on a page of `octorunbook app` (Voilà, code hidden): what is
# JupyterLab's alone (its Run menu, Shift+Enter) is a comment in the form cell, and the line under the form
# says how to start the run where it is shown (ui.form, ui.operator).
FORM = (
    "## 1 · Check the inputs\n\nThe form below is filled from the parameters. Each field is checked as you type; "
    "the reason appears next to it: ✔ fine, ⚠ works but look, ✖ would stop the run before anything is changed. "
    "The line under the form says how to start the run."
)
LAB_HINT = (
    "# In JupyterLab nothing waits for a click: Run ▸ Run All Cells runs the whole runbook with what the form shows.\n"
    "# To change a value first: run this cell alone (Shift+Enter), edit the form, then Run ▸ Run All Cells —\n"
    "# the kernel keeps what you typed (a value you change in the parameters cell wins).\n"
)
OPEN = (
    "## 2 · Open the target\n\nChecks the parameters again, opens the target (the sandbox is created on first "
    "use) and takes the per-instance lock, so no other run changes this server at the same time. Nothing is "
    "changed yet. *If it fails:* the panel names the problem and the remedy; a `TARGET_BUSY` means another run "
    "is active."
)
FINISH = (
    "## Record\n\nThe result record — below in a notebook, under the Run button on a page of `octorunbook app` — "
    "is the audit record of this run (`application/vnd.octorunbook.result+json`): "
    "status, who, when, where, what changed, the evidence and every command with its exit code. Every runbook "
    "ends here, the same way."
)
WHICH_CERTIFICATE = (
    "## 3 · Read: which certificate\n\nThe `thumbprint` parameter, or — when empty — the certificate that 01 "
    "imported last on this target (said so in the record). Changes nothing. *If it fails* with "
    "`THUMBPRINT_REQUIRED`: run 01 or set the thumbprint."
)

nb01 = nb(
    "01-import-certificate",
    "01 · Import the certificate",
    "Puts the portal's certificate into the **LocalMachine** certificate store (`My` or `WebHosting`) **with its private key** — "
    "what MMC's import wizard does — but judges the certificate first, the way Windows and browsers will. "
    "Sources: a new self-signed certificate, a PFX file, PEM files, an ACME CA, or a certificate already in the store.",
    (
        "## 3 · Read the certificate\n\nGenerates a new self-signed certificate, loads the PFX or PEM files, "
        "obtains one from the ACME CA or looks it up in the store, and shows its card: names, validity, key, "
        "signature, thumbprint — with every problem found. An ✖ finding **stops here, before anything is "
        "imported**; ⚠ findings are recorded. *If it fails:* follow the remedy next to the finding "
        "(`PFX_PASSWORD_MISSING`: set the variable named by `pfx_password_env`, or type the password into the form).",
        "## 4 · Plan the import\n\nLooks in the store: a certificate already there with its private key is left "
        "alone; otherwise the plan shows where it goes and how (a PFX imported with MachineKeySet + PersistKeySet; "
        "behind nginx, `fullchain.pem` + `privkey.pem` in a directory of their own). Changes nothing. *If it fails* "
        "with `STORE_MISSING`: `WebHosting` exists only where IIS is installed — use `My`.",
        "## 5 · Import into the store\n\nImports a one-time PFX (fresh random password, file readable only by you, "
        "deleted right after) with MachineKeySet + PersistKeySet. Already in the store with its key → nothing to do. "
        "With `dry_run` this only shows the plan. *If it fails* with `PFX_NO_PRIVATE_KEY`: the certificate arrived "
        "without its key and was removed again — export the PFX with its private key (on Windows Server 2016 "
        "with `pfx_encryption: compatible`).",
    ),
    "## Next\n\n**[02 · Verify the certificate and its private key](02-verify-certificate.ipynb)** — open it and run it "
    "(it picks up the certificate imported here).",
    after=(
        (
            "## Continue\n\nIn a notebook, one click runs **02** (prove the key) and **03** (bind HTTPS, prove it over "
            "TLS, or roll back) with the inputs above, each as its own audited run; their result panels appear below "
            "the button. (On a page of `octorunbook app`, Continue appears under the Run button once 01 has "
            "succeeded and opens 02's page with these inputs.) "
            "What only 03 asks — keep HTTP, redirect HTTP→HTTPS, HSTS — is not an input of 01, so the button binds "
            "with 03's defaults (HTTP kept, no redirect, no HSTS). To choose those, or to step through, use the "
            "links under *Next*.",
            "ui.continue_button(form, record)",
        ),
    ),
)

nb02 = nb(
    "02-verify-certificate",
    "02 · Verify the certificate and its private key",
    "Reads the certificate back from the store and proves what HTTP.sys will need: it is **present**, in "
    "**LocalMachine**, in the **right store**, and its **private key is present and usable** (a signature is made and "
    "verified — `HasPrivateKey` alone proves nothing). Changes nothing.",
    (
        WHICH_CERTIFICATE,
        "## 4 · Plan: what will be proven\n\n02 changes nothing, so its plan is the list of checks it makes. "
        "Nothing here can fail.",
        "## 5 · Prove it\n\nEach check below is a row of evidence: expected vs seen. *If it fails:* the failing "
        "row's code says why and the panel gives the remedy — `CERT_NOT_FOUND`: run 01, or check `thumbprint` "
        "and `store`; `KEY_NOT_USABLE`: re-import the PFX with 01.",
    ),
    "## Next\n\n**[03 · Add the HTTPS binding and prove it](03-add-https-binding.ipynb)** — open it and run it.",
)

nb03 = nb(
    "03-add-https-binding",
    "03 · Add the HTTPS binding and prove it",
    "What Octopus Manager's *Web Bindings* wizard does, unattended and provable: add the HTTPS listen prefix, bind the "
    "certificate in HTTP.sys (`Octopus.Server ssl-certificate`), apply ForceSSL/HSTS, restart — then **prove over TLS** "
    "that the portal serves the expected thumbprint. If anything fails, the state from before the run is restored.",
    (
        WHICH_CERTIFICATE,
        "## 4 · Plan\n\nReads the current listen prefixes, ForceSSL, HSTS and the HTTP.sys binding on the port "
        "(behind nginx: the managed server block), and shows **current → desired** with the exact commands. Only "
        "the difference will be applied. Changes nothing. *If it fails* with `PORT_IN_USE`: another application "
        "holds the port.",
        "## 5 · Apply, restart, prove — or roll back\n\nStops the service, binds, configures, starts, waits for the portal "
        "(with progress), then checks over TLS: served thumbprint, `/api`, redirect, HSTS. On any failure the snapshot is "
        "restored and the old prefixes are checked to answer again.",
    ),
    "## Done\n\nThe portal serves HTTPS with the certificate from 01, proven over TLS above. The audit records of the three "
    "runs are in `audit_dir`; `octorunbook audit list` shows them.",
)

nb04 = nb(
    "04-renew-certificate",
    "04 · Renew or rotate the certificate — no restart, no downtime",
    "Day two: replaces the certificate the portal serves **without restarting Octopus**. HTTP.sys looks the binding up "
    "at every TLS handshake, so swapping it changes the certificate for the next connection while the portal keeps "
    "answering. Reads what is served and bound now; with more than `renew_before_days` left it proves the current "
    "certificate and ends `unchanged` (what a daily schedule wants). Otherwise it obtains the new certificate (same "
    "sources as 01), judges it, imports it, swaps the binding keeping every per-binding setting, **proves over TLS** "
    "that the new thumbprint is served, and only then retires the old one. Any failure restores the old binding. "
    "On the nginx front (`target: nginx`, or a sandbox with `front: nginx`) the new certificate gets its own PEM "
    "directory, the managed server block is pointed at it and nginx reloads gracefully (no request fails); the "
    "old directory is retired after the proof.",
    (
        "## 3 · Read: what the portal has now\n\nA TLS handshake (served thumbprint, expiry), the HTTP.sys binding with "
        "every field (behind nginx: the managed server block) and the certificate in the store; then the verdict "
        "`octorunbook check params.yaml` gives for this portal (exit 0 OK, 1 WARNING within 30 days, 2 CRITICAL "
        "within 7 days, expired, wrong host or served ≠ bound, 3 UNKNOWN) — a verdict, not a stop: renewing is what "
        "fixes it. Changes nothing. *If it fails* with `NOT_BOUND`: run 01 → 03 first; with `SERVED_NOT_BOUND`: "
        "something else answers on the port.",
        "## 4 · Plan: the new certificate and the swap\n\nWith more than `renew_before_days` left (and no "
        "`force_renew`) the current certificate is proven to cover the hostname and kept: no plan, the run ends "
        "`unchanged`. Otherwise the new certificate is obtained and judged: 01's findings plus `RENEWAL_REGRESSES` "
        "— it must not expire sooner, drop the portal's hostname or have a weaker key; an ✖ stops here, before "
        "anything is changed. It is then imported into the store **beside** the served one (with `dry_run` this "
        "is only shown) — the portal keeps serving the current certificate — and the plan shows which command "
        "swaps the binding and why: Octopus's own `ssl-certificate` when the binding has only default settings, "
        "`netsh http update sslcert` carrying every non-default setting (`disablelegacytls`, `dsmapperusage`, …) "
        "otherwise; behind nginx, the server block pointed at the new directory. The service is not restarted.",
        "## 5 · Swap, prove, retire — or roll back\n\nSwaps the binding, proves over TLS that the new thumbprint is "
        "served, `/api` answers and every other binding setting is unchanged; then keeps the old certificate until it "
        "expires (`retire_old: after-expiry`) or removes it (`remove`). On any failure the old binding is restored, "
        "the new certificate removed and the old one proven to be served again. Nothing to do when renewal was not due.",
    ),
    "## Done\n\nThe record above says what is served now. Keep it renewed unattended: `octorunbook schedule install "
    "params.yaml`; watch it: `octorunbook check params.yaml`.",
)

nb05 = nb(
    "05-harden-tls",
    "05 · Harden TLS — scan, plan, and (only when asked) apply and prove",
    "Proving the portal serves the right certificate is half of HTTPS done right; the other half is what the endpoint "
    "**accepts**: TLS 1.0/1.1, weak cipher suites, a chain clients cannot validate, no HSTS. This runbook scans that "
    "posture, then plans the least intrusive hardening: on Windows Server 2019+ the portal's own binding with "
    "`disablelegacytls=enable` (no reboot), else the SCHANNEL registry values (machine-wide, reboot); behind nginx "
    "`ssl_protocols` / `ssl_ciphers` in the managed server block (`nginx -t`, reload, no reboot). "
    "**It only plans** unless `apply: true`; the scan after the change is the proof.",
    (
        "## 3 · Read: the posture as it is\n\nThe posture table (check, expected, seen, severity): the protocols and "
        "cipher suites the portal accepts, its chain, HSTS. Changes nothing. *If the portal cannot be scanned* "
        "(`POSTURE_NOT_SCANNED`, a warning): it does not answer over HTTPS — `octorunbook check params.yaml` says why.",
        "## 4 · Plan\n\nThe exact command or registry values, whether a reboot is needed, what clients it may "
        "break, and how to undo it. Nothing is changed here. *If it fails* with `NOT_BOUND`: there is no HTTPS "
        "binding on `https_port` to harden — run 01 → 03 first.",
        "## 5 · Apply and prove — only with `apply: true`\n\nRuns the plan, then scans again: TLS 1.0/1.1 must be "
        "refused. A per-binding change that does not prove is undone. A SCHANNEL change needs a reboot; the record "
        "says so and the scan after the reboot is the proof.",
    ),
    "## Done\n\n`octorunbook posture --url https://HOST:PORT --hostname NAME` (or `octorunbook check --posture`) "
    "shows the same table from any machine.",
)

for name, book in (
    ("01-import-certificate", nb01),
    ("02-verify-certificate", nb02),
    ("03-add-https-binding", nb03),
    ("04-renew-certificate", nb04),
    ("05-harden-tls", nb05),
):
    # Stable cell ids (from the notebook name and the cell's text): regenerating changes only edited cells.
    for index, cell in enumerate(book.cells):
        cell.id = hashlib.sha1(f"{name}\0{index}\0{cell.source}".encode()).hexdigest()[:8]
    nbformat.validate(book)
    nbformat.write(book, f"notebooks/{name}.ipynb")
