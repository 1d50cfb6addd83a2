<#
.SYNOPSIS
    Show the scheduled renewal task \octorunbook\<TaskName>: when it runs, as whom, what it runs, how it last ended.
.DESCRIPTION
    Read-only: Get-ScheduledTask and Get-ScheduledTaskInfo. Prints one JSON object: status ok,
    not_found (no such task) or error. Windows PowerShell 5.1 syntax only.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string]$TaskName
)

$ErrorActionPreference = 'Stop'
$phase = 'start'
$result = $null
$taskPath = '\octorunbook\'
. (Join-Path $PSScriptRoot '_common.ps1')
try {
    $phase = 'read'
    $task = Get-ScheduledTask -TaskName $TaskName -TaskPath $taskPath -ErrorAction SilentlyContinue
    if ($null -eq $task) {
        $result = [ordered]@{ status = 'not_found'; task_name = $TaskName; task_path = $taskPath }
    }
    else {
        $info = Get-ScheduledTaskInfo -TaskName $TaskName -TaskPath $taskPath
        $next = ''
        $last = ''
        if ($null -ne $info.NextRunTime) { $next = Format-OctorunbookDate -Value $info.NextRunTime }
        if ($null -ne $info.LastRunTime -and $info.LastRunTime.Year -gt 1999) { $last = Format-OctorunbookDate -Value $info.LastRunTime }
        $at = ''
        $trigger = @($task.Triggers)[0]
        if ($null -ne $trigger -and $trigger.StartBoundary) { $at = ([datetime]$trigger.StartBoundary).ToString('HH:mm') }
        $action = @($task.Actions)[0]
        $result = [ordered]@{
            status           = 'ok'
            task_name        = [string]$task.TaskName
            task_path        = [string]$task.TaskPath
            state            = [string]$task.State
            at               = $at
            user_id          = [string]$task.Principal.UserId
            logon_type       = [string]$task.Principal.LogonType
            run_level        = [string]$task.Principal.RunLevel
            execute          = [string]$action.Execute
            arguments        = [string]$action.Arguments
            next_run_time    = $next
            last_run_time    = $last
            last_task_result = [int]$info.LastTaskResult
        }
    }
}
catch {
    $result = New-OctorunbookFailure -ErrorRecord $_ -Phase $phase
}
ConvertTo-OctorunbookJson -InputObject $result
if ($result.status -eq 'ok') { exit 0 } else { exit 1 }
