<#
.SYNOPSIS
    Read one certificate from Cert:\LocalMachine\<StoreName> by thumbprint.
.DESCRIPTION
    Prints one JSON object: {"status":"ok","certificate":{...}} or {"status":"not_found"},
    {"status":"store_missing"}, {"status":"error",...}.
    The certificate object holds plain values only: thumbprint, subject, issuer, not_before/not_after
    (ISO 8601 UTC), has_private_key, dns_names (from the SAN extension), eku_oids, raw (base64 DER of the
    public certificate), key_algorithm, key_kind (CNG | CryptoAPI), key_provider, key_exportable,
    key_error/key_hresult when the key cannot be opened.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string]$StoreName,
    [Parameter(Mandatory = $true)][string]$Thumbprint
)

$ErrorActionPreference = 'Stop'
$phase = 'start'
$result = $null
# Functions only; loaded first so even a failure at the start is printed by the ASCII JSON writer.
. (Join-Path $PSScriptRoot '_common.ps1')
try {
    Assert-OctorunbookStoreName -Name $StoreName
    $wanted = ConvertTo-OctorunbookThumbprint -Value $Thumbprint

    $phase = 'open'
    $store = Open-OctorunbookStore -Name $StoreName -Write $false
    try {
        $phase = 'read'
        $found = $store.Certificates.Find([System.Security.Cryptography.X509Certificates.X509FindType]::FindByThumbprint, $wanted, $false)
        if ($found.Count -eq 0) {
            $result = [ordered]@{
                status     = 'not_found'
                store      = $StoreName
                thumbprint = $wanted
            }
        }
        else {
            $result = [ordered]@{
                status      = 'ok'
                certificate = (Get-OctorunbookCertificateInfo -Certificate $found[0] -StoreName $StoreName -WithKey $true)
            }
        }
    }
    finally {
        $store.Close()
    }
}
catch {
    $result = New-OctorunbookFailure -ErrorRecord $_ -Phase $phase
}
ConvertTo-OctorunbookJson -InputObject $result
if ($result.status -eq 'ok') { exit 0 } else { exit 1 }
