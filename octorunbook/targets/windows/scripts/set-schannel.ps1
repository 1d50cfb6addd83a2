<#
.SYNOPSIS
    Set exact SCHANNEL registry values from a plan file, after exporting the previous values for rollback.
.DESCRIPTION
    -PlanPath is a JSON file written by octorunbook:
      {"changes":[{"path":"HKLM:\...","name":"Enabled","type":"DWord","value":0}, ...]}
    A null value removes the value (back to the Windows default). Before anything changes, the current
    value of every listed path/name is read; they are exported in the result as "previous" (also when a
    later step fails), in the plan format, so that octorunbook keeps them as the rollback plan: running
    this script with that file restores exactly what was there. (octorunbook also writes its own reading
    to that file before it calls this script, so a backup exists even if this process dies.)
    Keys are created when missing, never re-created (New-Item -Force on an existing registry key would
    wipe its values). SCHANNEL reads these values at start: a reboot is needed before they take effect.
    Prints one JSON object:
      {"status":"ok","applied":n,"previous":[...],"reboot_required":true}
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string]$PlanPath
)

$ErrorActionPreference = 'Stop'
$phase = 'start'
$result = $null
$previous = $null
. (Join-Path $PSScriptRoot '_common.ps1')
try {

    function ConvertFrom-OctorunbookDword {
        param($Raw)
        # GetValue hands a REG_DWORD back as a signed Int32; report it as the unsigned number regedit shows.
        $number = [int64]$Raw
        if ($number -lt 0) { $number = $number + 4294967296 }
        return $number
    }

    function ConvertTo-OctorunbookDword {
        param([int64]$Value)
        # New-ItemProperty -PropertyType DWord takes an Int32: 4294967295 must travel as -1.
        if ($Value -gt 2147483647) { $Value = $Value - 4294967296 }
        return [int]$Value
    }

    $phase = 'read-plan'
    $plan = Get-Content -LiteralPath $PlanPath -Raw -Encoding UTF8 | ConvertFrom-Json
    $changes = @($plan.changes)
    foreach ($change in $changes) {
        if ([string]$change.path -notlike 'HKLM:\*') { throw "Refusing a path outside HKLM: '$($change.path)'." }
        if (@('DWord', 'String') -notcontains [string]$change.type) { throw "Unsupported value type '$($change.type)'." }
    }

    $phase = 'backup'
    $previous = @()
    foreach ($change in $changes) {
        $path = [string]$change.path
        $name = [string]$change.name
        $value = $null
        $kind = [string]$change.type
        if (Test-Path -LiteralPath $path) {
            $key = Get-Item -LiteralPath $path
            if ($key.GetValueNames() -contains $name) {
                $kind = [string]$key.GetValueKind($name)
                $raw = $key.GetValue($name, $null, 'DoNotExpandEnvironmentNames')
                if ($kind -eq 'DWord') { $value = ConvertFrom-OctorunbookDword -Raw $raw } else { $value = [string]$raw }
            }
        }
        $previous += [ordered]@{ path = $path; name = $name; type = $kind; value = $value }
    }

    $phase = 'apply'
    $applied = 0
    foreach ($change in $changes) {
        $path = [string]$change.path
        $name = [string]$change.name
        if ($null -eq $change.value) {
            if ((Test-Path -LiteralPath $path) -and ((Get-Item -LiteralPath $path).GetValueNames() -contains $name)) {
                Remove-ItemProperty -LiteralPath $path -Name $name
            }
        }
        else {
            if (-not (Test-Path -LiteralPath $path)) { New-Item -Path $path -Force | Out-Null }
            if ([string]$change.type -eq 'DWord') {
                New-ItemProperty -LiteralPath $path -Name $name -PropertyType DWord -Value (ConvertTo-OctorunbookDword -Value ([int64]$change.value)) -Force | Out-Null
            }
            else {
                New-ItemProperty -LiteralPath $path -Name $name -PropertyType String -Value ([string]$change.value) -Force | Out-Null
            }
        }
        $applied = $applied + 1
    }

    $result = [ordered]@{
        status          = 'ok'
        applied         = $applied
        previous        = $previous
        reboot_required = $true
    }
}
catch {
    $result = New-OctorunbookFailure -ErrorRecord $_ -Phase $phase
    # What was there before the failing step: the rollback plan, even for a change that went half-way.
    if ($null -ne $previous) { $result['previous'] = $previous }
}
ConvertTo-OctorunbookJson -InputObject $result
if ($result.status -eq 'ok') { exit 0 } else { exit 1 }
