<#
.SYNOPSIS
    What the scheduled renewal task runs: "<Octorunbook> <Subcommand> <ParamsPath>", with the PFX password
    (when there is one) in the renewal's environment only.
.DESCRIPTION
    Started by the Scheduled Task that register-renewal-task.ps1 registers, as SYSTEM. With -SecretPath
    and -SecretNames, the DPAPI LocalMachine-protected JSON object {"VARIABLE": "value"} is unprotected
    and each listed value put into the variable of that name of this process, which the renewal
    inherits (pfx_password_env, acme_eab_hmac_env, notify_env name them), and cleared when it ends.
    -PasswordEnv reads a file holding one bare password (tasks registered before secrets were kept
    together). -DryRun is the once-only start after install (test-renewal-task.ps1). Exits with the renewal's exit code, so the
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
    [string]$SecretNames,
    [string]$PasswordEnv,
    [switch]$DryRun
)

$ErrorActionPreference = 'Stop'
$phase = 'start'
$result = $null
$code = 1
. (Join-Path $PSScriptRoot '_common.ps1')
try {
    $names = @()
    if ($SecretPath) {
        $phase = 'unprotect'
        if ($SecretNames -and ($SecretNames -notmatch '^[A-Za-z_][A-Za-z0-9_]*(,[A-Za-z_][A-Za-z0-9_]*)*$')) { throw "SecretNames must be variable names, got '$SecretNames'." }
        if ((-not $SecretNames) -and ($PasswordEnv -notmatch '^[A-Za-z_][A-Za-z0-9_]*$')) { throw "PasswordEnv must be a variable name, got '$PasswordEnv'." }
        Add-Type -AssemblyName System.Security
        $protected = [System.IO.File]::ReadAllBytes($SecretPath)
        $bytes = [System.Security.Cryptography.ProtectedData]::Unprotect(
            $protected, $null, [System.Security.Cryptography.DataProtectionScope]::LocalMachine)
        $text = [System.Text.Encoding]::UTF8.GetString($bytes)
        [Array]::Clear($bytes, 0, $bytes.Length)
        if ($SecretNames) {
            $values = $text | ConvertFrom-Json
            foreach ($name in $SecretNames.Split(',')) {
                $names += $name
                $value = $values.$name
                if ($null -eq $value) { throw "The protected secrets hold no value for $name." }
                [Environment]::SetEnvironmentVariable($name, [string]$value, 'Process')
            }
            $values = $null
        }
        else {
            $names += $PasswordEnv
            [Environment]::SetEnvironmentVariable($PasswordEnv, $text, 'Process')
        }
        $text = $null
    }
    $phase = 'renew'
    if ($DryRun) { & $Octorunbook $Subcommand $ParamsPath '--dry-run' }
    else { & $Octorunbook $Subcommand $ParamsPath }
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
    foreach ($name in $names) { [Environment]::SetEnvironmentVariable($name, $null, 'Process') }
}
ConvertTo-OctorunbookJson -InputObject $result
exit $code
