<#
.SYNOPSIS
    List the certificates with a private key in Cert:\LocalMachine\<StoreName>, for the picker.
.DESCRIPTION
    Prints one JSON object: {"status":"ok","store":..,"certificates":[{...},...]} (the same certificate
    fields as get-certificate.ps1, without opening the keys: opening a hardware-backed key may prompt),
    or {"status":"store_missing"} / {"status":"error",...}.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string]$StoreName
)

$ErrorActionPreference = 'Stop'
$phase = 'start'
$result = $null
# Functions only; loaded first so even a failure at the start is printed by the ASCII JSON writer.
. (Join-Path $PSScriptRoot '_common.ps1')
try {
    Assert-OctorunbookStoreName -Name $StoreName

    $phase = 'open'
    $store = Open-OctorunbookStore -Name $StoreName -Write $false
    try {
        $phase = 'read'
        $certificates = New-Object System.Collections.ArrayList
        foreach ($certificate in $store.Certificates) {
            if (-not $certificate.HasPrivateKey) { continue }
            [void]$certificates.Add((Get-OctorunbookCertificateInfo -Certificate $certificate -StoreName $StoreName -WithKey $false))
        }
        $result = [ordered]@{
            status       = 'ok'
            store        = $StoreName
            certificates = @($certificates)
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
