<#
.SYNOPSIS
    Facts about this host that decide how octorunbook acts: elevation, Windows build, names, PowerShell.
.DESCRIPTION
    The Windows build picks the PFX encryption: AES-256 only from build 17763 (Server 2019) on.
    Prints one JSON object: {"status":"ok","elevated":..,"windows_build":..,"registry_build":..,
    "os_version":..,"os_caption":..,"computer_name":..,"user":..,"ps_version":..,"ps_edition":..}
#>
[CmdletBinding()]
param()

$ErrorActionPreference = 'Stop'
$phase = 'start'
$result = $null
try {
    try { [Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false } catch { }
    . (Join-Path $PSScriptRoot '_common.ps1')

    $phase = 'identity'
    $identity = [System.Security.Principal.WindowsIdentity]::GetCurrent()
    $principal = New-Object System.Security.Principal.WindowsPrincipal -ArgumentList $identity
    $elevated = [bool]$principal.IsInRole([System.Security.Principal.WindowsBuiltInRole]::Administrator)

    $phase = 'os'
    $version = [Environment]::OSVersion.Version
    $caption = ''
    $registryBuild = 0
    try {
        $currentVersion = Get-ItemProperty -Path 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion' -ErrorAction Stop
        $caption = [string]$currentVersion.ProductName
        $registryBuild = [int]$currentVersion.CurrentBuildNumber
    }
    catch { }
    $edition = 'Desktop'
    if ($PSVersionTable.ContainsKey('PSEdition')) { $edition = [string]$PSVersionTable.PSEdition }

    $result = [ordered]@{
        status         = 'ok'
        elevated       = $elevated
        windows_build  = [int]$version.Build
        registry_build = $registryBuild
        os_version     = [string]$version.ToString()
        os_caption     = $caption
        computer_name  = [Environment]::MachineName
        user           = [string]$identity.Name
        ps_version     = [string]$PSVersionTable.PSVersion.ToString()
        ps_edition     = $edition
    }
}
catch {
    $result = New-OctorunbookFailure -ErrorRecord $_ -Phase $phase
}
ConvertTo-Json -InputObject $result -Depth 5 -Compress
if ($result.status -eq 'ok') { exit 0 } else { exit 1 }
