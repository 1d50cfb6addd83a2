<#
.SYNOPSIS
    Register the daily certificate renewal (octorunbook runbook 04) as a Scheduled Task running as SYSTEM.
.DESCRIPTION
    The task \octorunbook\<TaskName> runs every day at <At> (local time; "HH:mm,HH:mm": two daily
    triggers, for certificates under 10 days of lifetime) as NT AUTHORITY\SYSTEM with
    logon type ServiceAccount, which is "Run whether user is logged on or not" without a stored password,
    and with the highest privileges (importing into LocalMachine and binding HTTP.sys need them).
    A missed run (server off at that time) starts as soon as possible; a run still going is not doubled.

    The task starts run-renewal-task.ps1 (beside this script), which runs
    "<Octorunbook> <Subcommand> <ParamsPath>" and exits with its exit code.

    With -LocalPaths ("C:\a|D:\b": every path the renewal uses), a path on a network drive letter
    (DriveInfo.DriveType Network: a drive mapped in this logon session, which SYSTEM does not see) is
    status network_path before anything is protected or registered.

    -LegacySecretPath (the task's PFX password file from before every secret was kept together) is
    deleted once the task is registered: nothing reads it any more.

    With -SecretPath, the secrets - one JSON object {"VARIABLE": "value"} for the variables listed in
    -SecretNames - are read from the environment variable OCTORUNBOOK_SCHEDULE_SECRET
    of this process (never from argv) and protected with DPAPI for the machine (LocalMachine scope).
    LocalMachine DPAPI lets any local process unprotect the bytes, so the file's ACL is the lock: the
    file is created (FileMode CreateNew, through a FileStream given a FileSecurity) with its final
    descriptor from its first byte - owner Administrators, protected DACL, SYSTEM and Administrators
    only - in a folder the caller has already created with the same protection. Writing first and
    calling Set-Acl afterwards would leave a window in which the inherited ACL applies. The ACL is
    read back and reported as secret_acl. The launcher unprotects the password at run time into the
    variables named -SecretNames of the renewal's own process. No secret appears in the task
    definition or its command line.

    Prints one JSON object: status ok (task, principal, action, next run, secret_acl), network_path, secret_missing,
    not_elevated (Register-ScheduledTask as SYSTEM needs an elevated session) or error.
    Windows PowerShell 5.1: no ?. ?? or ternary operators.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string]$TaskName,
    [Parameter(Mandatory = $true)][string]$At,
    [Parameter(Mandatory = $true)][string]$Octorunbook,
    [Parameter(Mandatory = $true)][string]$Subcommand,
    [Parameter(Mandatory = $true)][string]$ParamsPath,
    [string]$SecretPath,
    [string]$SecretNames,
    [string]$LocalPaths,
    [string]$LegacySecretPath
)

$ErrorActionPreference = 'Stop'
$phase = 'start'
$result = $null
$taskPath = '\octorunbook\'
. (Join-Path $PSScriptRoot '_common.ps1')
try {
    if ($TaskName -notmatch '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$') { throw "Invalid task name '$TaskName'." }
    if ($At -notmatch '^([01][0-9]|2[0-3]):[0-5][0-9](,([01][0-9]|2[0-3]):[0-5][0-9])?$') { throw "Invalid time of day '$At': use HH:mm (or HH:mm,HH:mm for two daily triggers)." }
    foreach ($value in @($Octorunbook, $Subcommand, $ParamsPath, $SecretPath)) {
        if ($value -match '"') { throw "A path for the task contains a double quote: $value" }
        # The task's arguments put each value in "..." and the Task Scheduler expands %VAR% in them.
        if ($value -match '[%\x00-\x1f]|\\$') { throw "A path for the task contains %, a control character or a trailing backslash: $value" }
    }
    if ($SecretPath -and ($SecretNames -notmatch '^[A-Za-z_][A-Za-z0-9_]*(,[A-Za-z_][A-Za-z0-9_]*)*$')) {
        throw "SecretNames must be environment variable names separated by commas, got '$SecretNames'."
    }

    if ($LocalPaths) {
        $phase = 'paths'
        foreach ($path in $LocalPaths.Split('|')) {
            if ($path -match '^[A-Za-z]:') {
                $drive = New-Object System.IO.DriveInfo -ArgumentList $path.Substring(0, 2)
                if ($drive.DriveType -eq [System.IO.DriveType]::Network) {
                    $result = [ordered]@{ status = 'network_path'; path = $path; drive = $drive.Name }
                    break
                }
            }
        }
    }

    $secretProtected = $false
    $secretAcl = $null
    if ($null -eq $result -and $SecretPath) {
        $phase = 'protect'
        $plain = [Environment]::GetEnvironmentVariable('OCTORUNBOOK_SCHEDULE_SECRET', 'Process')
        [Environment]::SetEnvironmentVariable('OCTORUNBOOK_SCHEDULE_SECRET', $null, 'Process')
        if ([string]::IsNullOrEmpty($plain)) {
            $result = [ordered]@{
                status  = 'secret_missing'
                message = 'The secrets were not handed to this script (OCTORUNBOOK_SCHEDULE_SECRET is empty).'
            }
        }
        else {
            Add-Type -AssemblyName System.Security
            $bytes = [System.Text.Encoding]::UTF8.GetBytes($plain)
            $plain = $null
            $protected = [System.Security.Cryptography.ProtectedData]::Protect(
                $bytes, $null, [System.Security.Cryptography.DataProtectionScope]::LocalMachine)
            [Array]::Clear($bytes, 0, $bytes.Length)
            $folder = [System.IO.Path]::GetDirectoryName($SecretPath)
            if (-not [System.IO.Directory]::Exists($folder)) {
                throw "The secrets folder '$folder' does not exist: octorunbook creates it, protected, before this script runs."
            }
            # CreateNew never opens what is already there (nor follows a link planted in its place).
            if (Test-OctorunbookPathPresent -LiteralPath $SecretPath) { [System.IO.File]::Delete($SecretPath) }
            $security = New-OctorunbookPrivateSecurity -Folder $false
            $stream = New-Object System.IO.FileStream -ArgumentList $SecretPath, ([System.IO.FileMode]::CreateNew),
                ([System.Security.AccessControl.FileSystemRights]::Write), ([System.IO.FileShare]::None), 4096,
                ([System.IO.FileOptions]::WriteThrough), $security
            try {
                $stream.Write($protected, 0, $protected.Length)
                $stream.Flush()
            }
            finally {
                $stream.Dispose()
            }
            $secretAcl = Get-OctorunbookSecurityFacts -LiteralPath $SecretPath
            $secretProtected = $true
        }
    }

    if ($null -eq $result) {
        $phase = 'register'
        $runner = Join-Path $PSScriptRoot 'run-renewal-task.ps1'
        $powershell = Join-Path $env:SystemRoot 'System32\WindowsPowerShell\v1.0\powershell.exe'
        $arguments = '-NoProfile -NonInteractive -ExecutionPolicy Bypass -File "' + $runner + '"' +
            ' -Octorunbook "' + $Octorunbook + '" -Subcommand "' + $Subcommand + '" -ParamsPath "' + $ParamsPath + '"'
        if ($secretProtected) {
            $arguments = $arguments + ' -SecretPath "' + $SecretPath + '" -SecretNames ' + $SecretNames
        }
        $action = New-ScheduledTaskAction -Execute $powershell -Argument $arguments -WorkingDirectory (Split-Path -Parent $ParamsPath)
        $trigger = @()
        foreach ($time in $At.Split(',')) {
            $trigger += New-ScheduledTaskTrigger -Daily -At ([datetime]::ParseExact($time, 'HH:mm', [Globalization.CultureInfo]::InvariantCulture))
        }
        $principal = New-ScheduledTaskPrincipal -UserId 'NT AUTHORITY\SYSTEM' -LogonType ServiceAccount -RunLevel Highest
        $settings = New-ScheduledTaskSettingsSet -StartWhenAvailable -MultipleInstances IgnoreNew -ExecutionTimeLimit (New-TimeSpan -Hours 2)
        $task = Register-ScheduledTask -TaskName $TaskName -TaskPath $taskPath -Action $action -Trigger $trigger `
            -Principal $principal -Settings $settings -Force `
            -Description 'octorunbook: renew the Octopus Deploy portal certificate (runbook 04); audited records in audit_dir.'
        $legacyRemoved = $false
        if ($LegacySecretPath -and (Test-OctorunbookPathPresent -LiteralPath $LegacySecretPath)) {
            # the PFX password file of this task before every secret was kept together: no longer read
            [System.IO.File]::Delete($LegacySecretPath)
            $legacyRemoved = $true
        }
        $info = Get-ScheduledTaskInfo -TaskName $TaskName -TaskPath $taskPath
        $next = ''
        if ($null -ne $info.NextRunTime) { $next = Format-OctorunbookDate -Value $info.NextRunTime }
        $result = [ordered]@{
            status           = 'ok'
            task_name        = [string]$task.TaskName
            task_path        = [string]$task.TaskPath
            at               = $At
            user_id          = [string]$task.Principal.UserId
            logon_type       = [string]$task.Principal.LogonType
            run_level        = [string]$task.Principal.RunLevel
            execute          = $powershell
            arguments        = $arguments
            secret_path      = [string]$SecretPath
            secret_protected = $secretProtected
            secret_acl       = $secretAcl
            legacy_secret_removed = $legacyRemoved
            next_run_time    = $next
        }
    }
}
catch {
    $result = New-OctorunbookFailure -ErrorRecord $_ -Phase $phase
}
ConvertTo-OctorunbookJson -InputObject $result
if ($result.status -eq 'ok') { exit 0 } else { exit 1 }
