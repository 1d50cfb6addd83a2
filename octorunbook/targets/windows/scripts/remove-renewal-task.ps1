<#
.SYNOPSIS
    Remove the scheduled renewal task \octorunbook\<TaskName> and the machine-protected PFX password it used.
.DESCRIPTION
    Unregister-ScheduledTask -Confirm:$false, then deletes -SecretPath and -LegacySecretPath (the PFX
    password file of a task registered before every secret was kept together) when given and present.
    Prints one JSON object: status ok (task_removed, secret_removed), not_found (neither a task nor a
    secret), not_elevated or error. Windows PowerShell 5.1 syntax only.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string]$TaskName,
    [string]$SecretPath,
    [string]$LegacySecretPath
)

$ErrorActionPreference = 'Stop'
$phase = 'start'
$result = $null
$taskPath = '\octorunbook\'
. (Join-Path $PSScriptRoot '_common.ps1')
try {
    $phase = 'read'
    $task = Get-ScheduledTask -TaskName $TaskName -TaskPath $taskPath -ErrorAction SilentlyContinue
    $taskRemoved = $false
    $secretRemoved = $false
    if ($null -ne $task) {
        $phase = 'unregister'
        Unregister-ScheduledTask -TaskName $TaskName -TaskPath $taskPath -Confirm:$false
        $taskRemoved = $true
    }
    foreach ($path in @($SecretPath, $LegacySecretPath)) {
        if ($path -and (Test-Path -LiteralPath $path)) {
            $phase = 'remove-secret'
            Remove-Item -LiteralPath $path -Force
            $secretRemoved = $true
        }
    }
    if ($taskRemoved -or $secretRemoved) {
        $result = [ordered]@{ status = 'ok'; task_name = $TaskName; task_removed = $taskRemoved; secret_removed = $secretRemoved }
    }
    else {
        $result = [ordered]@{ status = 'not_found'; task_name = $TaskName; task_path = $taskPath }
    }
}
catch {
    $result = New-OctorunbookFailure -ErrorRecord $_ -Phase $phase
}
ConvertTo-OctorunbookJson -InputObject $result
if ($result.status -eq 'ok') { exit 0 } else { exit 1 }
