<#
.SYNOPSIS
    Facts about this host that decide how octorunbook acts: elevation, Windows build, names, PowerShell.
.DESCRIPTION
    The Windows build picks the PFX encryption: AES-256 only from build 17763 (Server 2019) on.
    Prints one JSON object: {"status":"ok","elevated":..,"windows_build":..,"registry_build":..,
    "os_version":..,"os_caption":..,"computer_name":..,"user":..,"ps_version":..,"ps_edition":..,
    "language_mode":..,"dotnet_release":..}. In Constrained Language Mode only the facts readable without
    .NET calls are filled in (elevated is null): the caller stops there with POWERSHELL_CONSTRAINED.
#>
[CmdletBinding()]
param()

$ErrorActionPreference = 'Stop'
$phase = 'start'
$result = $null
# Functions only; loaded first so even a failure at the start is printed by the ASCII JSON writer.
. (Join-Path $PSScriptRoot '_common.ps1')
try {
    # First the facts that decide whether the other scripts can run at all, read without .NET calls:
    # Constrained Language Mode (WDAC / AppLocker) blocks New-Object X509Store and static .NET methods;
    # the .NET Framework 4 release number (393295 = 4.6) decides whether GetRSAPrivateKey etc. exist.
    $phase = 'language'
    $languageMode = [string]$ExecutionContext.SessionState.LanguageMode
    $dotnetRelease = 0
    try {
        $ndp = Get-ItemProperty -Path 'HKLM:\SOFTWARE\Microsoft\NET Framework Setup\NDP\v4\Full' -ErrorAction Stop
        $dotnetRelease = [int]$ndp.Release
    }
    catch { }
    $edition = 'Desktop'
    if ($PSVersionTable.ContainsKey('PSEdition')) { $edition = [string]$PSVersionTable.PSEdition }
    $caption = ''
    $registryBuild = 0
    try {
        $currentVersion = Get-ItemProperty -Path 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion' -ErrorAction Stop
        $caption = [string]$currentVersion.ProductName
        $registryBuild = [int]$currentVersion.CurrentBuildNumber
    }
    catch { }
    $result = [ordered]@{
        status         = 'ok'
        elevated       = $null
        windows_build  = $registryBuild
        registry_build = $registryBuild
        os_version     = ''
        os_caption     = $caption
        computer_name  = [string]$env:COMPUTERNAME
        user           = [string]$env:USERNAME
        ps_version     = [string]$PSVersionTable.PSVersion
        ps_edition     = $edition
        language_mode  = $languageMode
        dotnet_release = $dotnetRelease
    }

    if ($languageMode -eq 'FullLanguage') {
        $phase = 'identity'
        $identity = [System.Security.Principal.WindowsIdentity]::GetCurrent()
        $principal = New-Object System.Security.Principal.WindowsPrincipal -ArgumentList $identity
        $result.elevated = [bool]$principal.IsInRole([System.Security.Principal.WindowsBuiltInRole]::Administrator)
        $result.user = [string]$identity.Name

        $phase = 'os'
        $version = [Environment]::OSVersion.Version
        $result.windows_build = [int]$version.Build
        $result.os_version = [string]$version.ToString()
        $result.computer_name = [Environment]::MachineName
    }
}
catch {
    $result = New-OctorunbookFailure -ErrorRecord $_ -Phase $phase
}
ConvertTo-OctorunbookJson -InputObject $result
if ($result.status -eq 'ok') { exit 0 } else { exit 1 }
