<#
.SYNOPSIS
    Start the scheduled renewal once with --dry-run, as the task's own account, and report its Last Run Result.
.DESCRIPTION
    Reads \octorunbook\<TaskName> (Get-ScheduledTask), registers its twin \octorunbook\<TaskName>-dry-run
    with the same principal (SYSTEM, ServiceAccount, Highest), the same action and working folder and
    the argument -DryRun appended (run-renewal-task.ps1 then runs "<octorunbook> renew PARAMS --dry-run":
    the renewal's preflight and plan, nothing changed), and no trigger. Start-ScheduledTask starts it;
    Get-ScheduledTaskInfo is read every 2 seconds until LastTaskResult is neither 0x41301
    (SCHED_S_TASK_RUNNING) nor 0x41303 (SCHED_S_TASK_HAS_NOT_RUN) and the task is no longer Running or
    Queued, or -WaitSeconds have passed (the twin is stopped). The twin is unregistered in every case.

    The real task is not started: its action would renew for real. The twin proves what the task's
    account can do - read the secrets, reach the paths, import octorunbook, reach the CA - with the
    task's own environment, not this session's.

    Prints one JSON object: status ok (finished, last_task_result, last_run_time, user_id), not_found
    (no such task), not_elevated or error. Windows PowerShell 5.1 syntax only.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string]$TaskName,
    [int]$WaitSeconds = 900
)

$ErrorActionPreference = 'Stop'
$phase = 'start'
$result = $null
$taskPath = '\octorunbook\'
. (Join-Path $PSScriptRoot '_common.ps1')
$twin = $TaskName + '-dry-run'
$registered = $false
try {
    if ($TaskName -notmatch '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$') { throw "Invalid task name '$TaskName'." }
    $phase = 'read'
    $task = Get-ScheduledTask -TaskName $TaskName -TaskPath $taskPath -ErrorAction SilentlyContinue
    if ($null -eq $task) {
        $result = [ordered]@{ status = 'not_found'; task_name = $TaskName; task_path = $taskPath }
    }
    else {
        $phase = 'register-twin'
        $action = @($task.Actions)[0]
        $twinAction = New-ScheduledTaskAction -Execute $action.Execute -Argument ([string]$action.Arguments + ' -DryRun') -WorkingDirectory $action.WorkingDirectory
        $settings = New-ScheduledTaskSettingsSet -MultipleInstances IgnoreNew -ExecutionTimeLimit (New-TimeSpan -Seconds ($WaitSeconds + 60))
        Register-ScheduledTask -TaskName $twin -TaskPath $taskPath -Action $twinAction -Principal $task.Principal `
            -Settings $settings -Force -Description 'octorunbook: one dry run of the renewal task as its own account (removed when it ends).' | Out-Null
        $registered = $true
        $phase = 'run-twin'
        Start-ScheduledTask -TaskName $twin -TaskPath $taskPath
        $deadline = (Get-Date).AddSeconds($WaitSeconds)
        $finished = $false
        while ((Get-Date) -lt $deadline) {
            Start-Sleep -Seconds 2
            $info = Get-ScheduledTaskInfo -TaskName $twin -TaskPath $taskPath
            $state = [string](Get-ScheduledTask -TaskName $twin -TaskPath $taskPath).State
            $code = [int64]([uint32]$info.LastTaskResult)
            if ($state -ne 'Running' -and $state -ne 'Queued' -and $code -ne 0x41301 -and $code -ne 0x41303) {
                $finished = $true
                break
            }
        }
        if (-not $finished) { Stop-ScheduledTask -TaskName $twin -TaskPath $taskPath -ErrorAction SilentlyContinue }
        $info = Get-ScheduledTaskInfo -TaskName $twin -TaskPath $taskPath
        $last = ''
        if ($null -ne $info.LastRunTime -and $info.LastRunTime.Year -gt 1999) { $last = Format-OctorunbookDate -Value $info.LastRunTime }
        $result = [ordered]@{
            status           = 'ok'
            task_name        = $TaskName
            twin_name        = $twin
            user_id          = [string]$task.Principal.UserId
            finished         = $finished
            last_task_result = [int64]([uint32]$info.LastTaskResult)
            last_run_time    = $last
        }
    }
}
catch {
    $result = New-OctorunbookFailure -ErrorRecord $_ -Phase $phase
}
finally {
    if ($registered) { Unregister-ScheduledTask -TaskName $twin -TaskPath $taskPath -Confirm:$false -ErrorAction SilentlyContinue }
}
ConvertTo-OctorunbookJson -InputObject $result
if ($result.status -eq 'ok') { exit 0 } else { exit 1 }
