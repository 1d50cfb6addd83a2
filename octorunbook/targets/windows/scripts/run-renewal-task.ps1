<#
.SYNOPSIS
    What the scheduled renewal task runs: "<Octorunbook> <Subcommand> <ParamsPath>", with the PFX password
    (when there is one) in the renewal's environment only.
.DESCRIPTION
    Started by the Scheduled Task that register-renewal-task.ps1 registers, as SYSTEM. With -SecretPath,
    the DPAPI LocalMachine-protected password is unprotected into the variable -PasswordEnv of this
    process, which the renewal inherits (runbook 04 reads the password from the variable named by its
    pfx_password_env parameter), and cleared when it ends. Exits with the renewal's exit code, so the
    task's "Last Run Result" says 0 (succeeded or unchanged) or not; the renewal's own output comes first,
    then one JSON object: status ok, renewal_failed (exit_code) or error (the password could not be
    unprotected, the command could not start). Windows PowerShell 5.1 syntax only.
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
$phase = 'start'
$result = $null
$code = 1
. (Join-Path $PSScriptRoot '_common.ps1')
try {
    if ($SecretPath) {
        $phase = 'unprotect'
        if ($PasswordEnv -notmatch '^[A-Za-z_][A-Za-z0-9_]*$') { throw "PasswordEnv must be a variable name, got '$PasswordEnv'." }
        Add-Type -AssemblyName System.Security
        $protected = [System.IO.File]::ReadAllBytes($SecretPath)
        $bytes = [System.Security.Cryptography.ProtectedData]::Unprotect(
            $protected, $null, [System.Security.Cryptography.DataProtectionScope]::LocalMachine)
        [Environment]::SetEnvironmentVariable($PasswordEnv, [System.Text.Encoding]::UTF8.GetString($bytes), 'Process')
        [Array]::Clear($bytes, 0, $bytes.Length)
    }
    $phase = 'renew'
    & $Octorunbook $Subcommand $ParamsPath
    $code = [int]$LASTEXITCODE
    $status = 'ok'
    if ($code -ne 0) { $status = 'renewal_failed' }
    $result = [ordered]@{ status = $status; exit_code = $code }
}
catch {
    $result = New-OctorunbookFailure -ErrorRecord $_ -Phase $phase
    $code = 1
}
finally {
    if ($PasswordEnv) { [Environment]::SetEnvironmentVariable($PasswordEnv, $null, 'Process') }
}
ConvertTo-OctorunbookJson -InputObject $result
exit $code
