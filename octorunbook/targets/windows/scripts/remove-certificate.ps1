<#
.SYNOPSIS
    Remove a certificate and its private key from Cert:\LocalMachine\<StoreName>.
.DESCRIPTION
    Only used to roll back a certificate this run imported. Removes with the Cert: provider's
    Remove-Item -DeleteKey (the key file goes too); if that fails, removes the certificate from the store
    and reports key_deleted = false. Reads the store back to confirm.

    Prints one JSON object: status ok (removed, key_deleted), not_found, store_missing, not_elevated,
    remove_failed (still present afterwards) or error.
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
    $store = Open-OctorunbookStore -Name $StoreName -Write $true
    try {
        $phase = 'read'
        $found = $store.Certificates.Find([System.Security.Cryptography.X509Certificates.X509FindType]::FindByThumbprint, $wanted, $false)
        if ($found.Count -eq 0) {
            $result = [ordered]@{ status = 'not_found'; store = $StoreName; thumbprint = $wanted }
        }
        else {
            $phase = 'remove'
            $keyDeleted = $false
            $keyDetail = ''
            try {
                Import-Module Microsoft.PowerShell.Security -ErrorAction SilentlyContinue
                Remove-Item -LiteralPath ('Cert:\LocalMachine\' + $StoreName + '\' + $wanted) -DeleteKey -ErrorAction Stop
                $keyDeleted = $true
            }
            catch {
                $keyDetail = [string](Get-OctorunbookInnermostException -ErrorRecord $_).Message
                foreach ($certificate in $found) { $store.Remove($certificate) }
            }
            $phase = 'verify'
            $check = Open-OctorunbookStore -Name $StoreName -Write $false
            try {
                $left = $check.Certificates.Find([System.Security.Cryptography.X509Certificates.X509FindType]::FindByThumbprint, $wanted, $false)
                if ($left.Count -eq 0) {
                    $result = [ordered]@{
                        status      = 'ok'
                        thumbprint  = $wanted
                        key_deleted = $keyDeleted
                        key_detail  = $keyDetail
                    }
                }
                else {
                    $result = [ordered]@{
                        status  = 'remove_failed'
                        message = 'The certificate is still in the store after removing it.'
                        detail  = $keyDetail
                    }
                }
            }
            finally {
                $check.Close()
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
