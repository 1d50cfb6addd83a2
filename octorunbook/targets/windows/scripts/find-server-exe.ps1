<#
.SYNOPSIS
    Where is Octopus.Server.exe? The way OctopusDSC finds it.
.DESCRIPTION
    First HKLM:\Software\Octopus\OctopusServer, value InstallLocation (a folder; OctopusDSC appends
    Octopus.Server.exe), read from the 64-bit registry view so a 32-bit host process is not redirected to
    WOW6432Node; else "$env:ProgramFiles\Octopus Deploy\Octopus\Octopus.Server.exe" (and the 64-bit
    Program Files folder when this process is 32-bit).
    Prints one JSON object: {"status":"ok","path":..,"source":"registry"|"default","exists":..,
    "install_location":..,"candidates":[..]}
#>
[CmdletBinding()]
param()

$ErrorActionPreference = 'Stop'
$phase = 'start'
$result = $null
# Functions only; loaded first so even a failure at the start is printed by the ASCII JSON writer.
. (Join-Path $PSScriptRoot '_common.ps1')
try {

    $phase = 'registry'
    $installLocation = ''
    try {
        $hive = [Microsoft.Win32.RegistryKey]::OpenBaseKey([Microsoft.Win32.RegistryHive]::LocalMachine, [Microsoft.Win32.RegistryView]::Registry64)
        $subKey = $hive.OpenSubKey('Software\Octopus\OctopusServer')
        if ($null -ne $subKey) {
            $value = $subKey.GetValue('InstallLocation')
            if ($null -ne $value) { $installLocation = [string]$value }
            $subKey.Close()
        }
        $hive.Close()
    }
    catch { }

    $phase = 'paths'
    $candidates = New-Object System.Collections.ArrayList
    $sources = New-Object System.Collections.ArrayList
    if ($installLocation -ne '') {
        if ($installLocation -like '*.exe') {
            [void]$candidates.Add($installLocation)
        }
        else {
            [void]$candidates.Add((Join-Path $installLocation 'Octopus.Server.exe'))
        }
        [void]$sources.Add('registry')
    }
    foreach ($programFiles in @($env:ProgramFiles, $env:ProgramW6432)) {
        if ([string]::IsNullOrEmpty($programFiles)) { continue }
        $candidate = Join-Path $programFiles 'Octopus Deploy\Octopus\Octopus.Server.exe'
        if (-not $candidates.Contains($candidate)) {
            [void]$candidates.Add($candidate)
            [void]$sources.Add('default')
        }
    }

    $path = ''
    $source = ''
    $exists = $false
    for ($i = 0; $i -lt $candidates.Count; $i++) {
        if (Test-Path -LiteralPath $candidates[$i] -PathType Leaf) {
            $path = [string]$candidates[$i]
            $source = [string]$sources[$i]
            $exists = $true
            break
        }
    }
    if (-not $exists -and $candidates.Count -gt 0) {
        $path = [string]$candidates[0]
        $source = [string]$sources[0]
    }
    $result = [ordered]@{
        status           = 'ok'
        path             = $path
        source           = $source
        exists           = $exists
        install_location = $installLocation
        candidates       = @($candidates)
    }
}
catch {
    $result = New-OctorunbookFailure -ErrorRecord $_ -Phase $phase
}
ConvertTo-OctorunbookJson -InputObject $result
if ($result.status -eq 'ok') { exit 0 } else { exit 1 }
