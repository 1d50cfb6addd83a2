<#
.SYNOPSIS
    What the scheduled renewal task runs: "<Octorunbook> <Subcommand> <ParamsPath>", with the PFX password
    (when there is one) in the renewal's environment only.
.DESCRIPTION
    Started by the Scheduled Task that register-renewal-task.ps1 registers, as SYSTEM. With -SecretPath,
    the DPAPI LocalMachine-protected password is unprotected into the variable -PasswordEnv of this
    process, which the renewal inherits (runbook 04 reads the password from the variable named by its
    pfx_password_env parameter), and cleared when it ends. Exits with the renewal's exit code, so the
    task's "Last Run Result" says 0 (succeeded or unchanged) or not. Windows PowerShell 5.1 syntax only.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string]$Octorunbook,
    [Parameter(Mandatory = $true)][string]$Subcommand,
    [Parameter(Mandatory = $true)][string]$ParamsPath,
    [string]$SecretPath,
    [string]$PasswordEnv
)

$ErrorActionPreference = 'Stop'
$code = 1
try {
    if ($SecretPath) {
        Add-Type -AssemblyName System.Security
        $protected = [System.IO.File]::ReadAllBytes($SecretPath)
        $bytes = [System.Security.Cryptography.ProtectedData]::Unprotect(
            $protected, $null, [System.Security.Cryptography.DataProtectionScope]::LocalMachine)
        [Environment]::SetEnvironmentVariable($PasswordEnv, [System.Text.Encoding]::UTF8.GetString($bytes), 'Process')
        [Array]::Clear($bytes, 0, $bytes.Length)
    }
    & $Octorunbook $Subcommand $ParamsPath
    $code = $LASTEXITCODE
}
catch {
    [Console]::Error.WriteLine('octorunbook scheduled renewal could not start: ' + $_.Exception.Message)
    $code = 1
}
finally {
    if ($PasswordEnv) { [Environment]::SetEnvironmentVariable($PasswordEnv, $null, 'Process') }
}
exit $code
