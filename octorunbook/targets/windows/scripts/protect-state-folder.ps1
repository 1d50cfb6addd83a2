<#
.SYNOPSIS
    Read, and with -Create make, a folder octorunbook keeps state or secrets in: SYSTEM and Administrators only.
.DESCRIPTION
    Without -Create nothing is changed: the script reports the owner and DACL of -Path (when it exists)
    and of every existing folder above it, so the caller can refuse a folder another account could
    write to, or replace, before anything is read from it or written to it.

    With -Create, each missing folder of -Path is created, top down, by
    [System.IO.Directory]::CreateDirectory(path, DirectorySecurity) with its final security descriptor
    (New-OctorunbookPrivateSecurity): owner BUILTIN\Administrators, a protected DACL granting full
    control to SYSTEM and BUILTIN\Administrators only, passed on to what is created inside. New-Item
    followed by Set-Acl would leave the folder with the parent's inherited ACL (under ProgramData:
    Users may create files) until Set-Acl runs. CreateDirectory returns a folder that already exists
    without touching its security (another process may have made it first), so what is there is read
    back and reported, never assumed.

    Prints one JSON object: status ok with created (the folders this call made), folder (the facts of
    -Path: exists, folder, reparse_point, owner_sid, protected, sddl, rules) and ancestors (the same
    facts for each existing folder above it, nearest first); not_elevated or error.
    Windows PowerShell 5.1 syntax only.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string]$Path,
    [switch]$Create
)

$ErrorActionPreference = 'Stop'
$phase = 'start'
$result = $null
. (Join-Path $PSScriptRoot '_common.ps1')
try {
    if (-not [System.IO.Path]::IsPathRooted($Path)) { throw "The state folder must be a full path, got '$Path'." }
    $full = [System.IO.Path]::GetFullPath($Path)
    if ([System.IO.Path]::GetPathRoot($full) -eq $full) { throw "A drive root cannot be the state folder: '$full'." }
    $full = $full.TrimEnd('\')

    $phase = 'read'
    $missing = New-Object System.Collections.ArrayList
    $cursor = $full
    while (-not (Test-OctorunbookPathPresent -LiteralPath $cursor)) {
        [void]$missing.Insert(0, $cursor)
        $cursor = [System.IO.Path]::GetDirectoryName($cursor)
        if ([string]::IsNullOrEmpty($cursor)) { throw "No part of '$full' exists, not even its drive." }
    }

    $created = New-Object System.Collections.ArrayList
    if ($Create) {
        $phase = 'create'
        foreach ($folder in $missing) {
            $security = New-OctorunbookPrivateSecurity -Folder $true
            [void][System.IO.Directory]::CreateDirectory($folder, $security)
            [void]$created.Add($folder)
        }
    }

    $phase = 'read-back'
    $ancestors = New-Object System.Collections.ArrayList
    $above = [System.IO.Path]::GetDirectoryName($full)
    while (-not [string]::IsNullOrEmpty($above)) {
        if (Test-OctorunbookPathPresent -LiteralPath $above) {
            [void]$ancestors.Add((Get-OctorunbookSecurityFacts -LiteralPath $above))
        }
        $above = [System.IO.Path]::GetDirectoryName($above)
    }
    $facts = [ordered]@{ path = $full; exists = $false }
    if (Test-OctorunbookPathPresent -LiteralPath $full) { $facts = Get-OctorunbookSecurityFacts -LiteralPath $full }
    $result = [ordered]@{
        status    = 'ok'
        path      = $full
        created   = @($created)
        folder    = $facts
        ancestors = @($ancestors)
    }
}
catch {
    $result = New-OctorunbookFailure -ErrorRecord $_ -Phase $phase
}
ConvertTo-OctorunbookJson -InputObject $result
if ($result.status -eq 'ok') { exit 0 } else { exit 1 }
