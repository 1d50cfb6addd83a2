<#
.SYNOPSIS
    Does the LocalMachine certificate store -StoreName exist? Never creates it.
.DESCRIPTION
    Prints one JSON object: {"status":"ok","store":..,"exists":true|false,"detail":..,"hresult":..}
    or {"status":"error",...}. WebHosting exists only where IIS 8+ is installed.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string]$StoreName
)

$ErrorActionPreference = 'Stop'
$phase = 'start'
$result = $null
try {
    try { [Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false } catch { }
    . (Join-Path $PSScriptRoot '_common.ps1')
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
        else {
            # Second opinion from the Cert: provider, which opens stores with CERT_STORE_OPEN_EXISTING_FLAG.
            Import-Module Microsoft.PowerShell.Security -ErrorAction SilentlyContinue
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
ConvertTo-Json -InputObject $result -Depth 5 -Compress
if ($result.status -eq 'ok') { exit 0 } else { exit 1 }
