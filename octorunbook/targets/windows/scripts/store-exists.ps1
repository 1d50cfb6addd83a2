<#
.SYNOPSIS
    Does the LocalMachine certificate store -StoreName exist? Never creates it.
.DESCRIPTION
    Prints one JSON object: {"status":"ok","store":..,"exists":true|false,"detail":..,"hresult":..},
    {"status":"not_elevated",...} when opening it is denied, or {"status":"error",...} for any other failure
    (also when the Cert: drive, the second opinion, is unavailable): only "not found" means missing. WebHosting exists only where IIS 8+ is installed.
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
    $exists = $true
    $detail = ''
    $hresult = 0
    try {
        $store = Open-OctorunbookStore -Name $StoreName -Write $false
        $store.Close()
    }
    catch {
        $openFailure = $_
        $inner = Get-OctorunbookInnermostException -ErrorRecord $openFailure
        $detail = [string]$inner.Message
        $hresult = [int]$inner.HResult
        # 0x80070002 "The system cannot find the file specified": the store does not exist.
        if ($hresult -eq -2147024894) {
            $exists = $false
        }
        elseif ($hresult -eq -2147024891 -or $inner -is [System.UnauthorizedAccessException]) {
            # Access denied is not "missing": reported as not_elevated by New-OctorunbookFailure.
            throw $openFailure
        }
        else {
            # Second opinion from the Cert: provider, which opens stores with CERT_STORE_OPEN_EXISTING_FLAG;
            # only when the Cert: drive is there: without it, "not there" would be a guess (status error).
            Import-Module Microsoft.PowerShell.Security -ErrorAction SilentlyContinue
            $drive = Get-PSDrive -Name Cert -PSProvider Certificate -ErrorAction SilentlyContinue
            if ($null -eq $drive) { throw $openFailure }
            if (Test-Path -LiteralPath ('Cert:\LocalMachine\' + $StoreName)) { throw $openFailure }
            $exists = $false
        }
    }
    $result = [ordered]@{
        status  = 'ok'
        store   = $StoreName
        exists  = $exists
        detail  = $detail
        hresult = $hresult
    }
}
catch {
    $result = New-OctorunbookFailure -ErrorRecord $_ -Phase $phase
}
ConvertTo-OctorunbookJson -InputObject $result
if ($result.status -eq 'ok') { exit 0 } else { exit 1 }
