<#
.SYNOPSIS
    Read the SCHANNEL values octorunbook's TLS hardening plan changes, and the Windows build. Changes nothing.
.DESCRIPTION
    Each value is read from exactly the key and name listed below; a value that is not there is reported
    as null (the Windows default applies: TLS 1.0/1.1 server-side enabled before Windows Server 2025).
    Prints one JSON object:
      {"status":"ok","windows_build":17763,
       "values":[{"path":"HKLM:\SYSTEM\...\TLS 1.0\Server","name":"Enabled","type":"DWord","value":1|null},...]}
    The cipher suite order is read from both places it can be set: the SSL Cipher Suite Order policy
    (GPO, IIS Crypto) and the local CNG configuration that Enable-TlsCipherSuite / Disable-TlsCipherSuite
    change (Control\Cryptography\Configuration\Local\SSL\00010002; that path is unconfirmed).
    The .NET Framework SchUseStrongCrypto values are read for the report only (they decide whether this
    machine's own .NET clients, such as Windows PowerShell 5.1, offer TLS 1.2).
#>
[CmdletBinding()]
param()

$ErrorActionPreference = 'Stop'
$phase = 'start'
$result = $null
. (Join-Path $PSScriptRoot '_common.ps1')
try {

    function ConvertFrom-OctorunbookDword {
        param($Raw)
        # GetValue hands a REG_DWORD back as a signed Int32; report it as the unsigned number regedit shows.
        $number = [int64]$Raw
        if ($number -lt 0) { $number = $number + 4294967296 }
        return $number
    }

    $schannel = 'HKLM:\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL\Protocols'
    $wanted = @(
        @($schannel + '\TLS 1.0\Server', 'Enabled'),
        @($schannel + '\TLS 1.0\Server', 'DisabledByDefault'),
        @($schannel + '\TLS 1.1\Server', 'Enabled'),
        @($schannel + '\TLS 1.1\Server', 'DisabledByDefault'),
        @($schannel + '\TLS 1.2\Server', 'Enabled'),
        @($schannel + '\TLS 1.2\Server', 'DisabledByDefault'),
        @('HKLM:\SOFTWARE\Policies\Microsoft\Cryptography\Configuration\SSL\00010002', 'Functions'),
        @('HKLM:\SYSTEM\CurrentControlSet\Control\Cryptography\Configuration\Local\SSL\00010002', 'Functions'),
        @('HKLM:\SOFTWARE\Microsoft\.NETFramework\v4.0.30319', 'SchUseStrongCrypto'),
        @('HKLM:\SOFTWARE\Wow6432Node\Microsoft\.NETFramework\v4.0.30319', 'SchUseStrongCrypto')
    )

    $phase = 'read'
    $values = @()
    foreach ($pair in $wanted) {
        $path = [string]$pair[0]
        $name = [string]$pair[1]
        $value = $null
        $kind = ''
        if (Test-Path -LiteralPath $path) {
            $key = Get-Item -LiteralPath $path
            if ($key.GetValueNames() -contains $name) {
                $kind = [string]$key.GetValueKind($name)
                $raw = $key.GetValue($name, $null, 'DoNotExpandEnvironmentNames')
                if ($kind -eq 'DWord') { $value = ConvertFrom-OctorunbookDword -Raw $raw }
                elseif ($kind -eq 'MultiString') { $value = [string]::Join(',', [string[]]$raw) }
                else { $value = [string]$raw }
            }
        }
        $values += [ordered]@{ path = $path; name = $name; type = $kind; value = $value }
    }

    $phase = 'os'
    $build = 0
    try {
        $currentVersion = Get-ItemProperty -Path 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion' -ErrorAction Stop
        $build = [int]$currentVersion.CurrentBuildNumber
    }
    catch { $build = [int][Environment]::OSVersion.Version.Build }

    $result = [ordered]@{
        status        = 'ok'
        windows_build = $build
        values        = $values
    }
}
catch {
    $result = New-OctorunbookFailure -ErrorRecord $_ -Phase $phase
}
ConvertTo-OctorunbookJson -InputObject $result
if ($result.status -eq 'ok') { exit 0 } else { exit 1 }
