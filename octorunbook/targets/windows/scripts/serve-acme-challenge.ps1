<#
.SYNOPSIS
    Answer the ACME HTTP-01 challenges of one run through HTTP.sys while Octopus keeps serving everything else.
.DESCRIPTION
    Registers -Prefix (http://+:80/.well-known/acme-challenge/) with System.Net.HttpListener, once for the
    whole run: HTTP.sys refuses a second registration of the same prefix (error 183), so every name of an
    order is answered by this one listener. HTTP.sys routes a request to the strongest, longest matching
    prefix, so this registration receives the CA's requests for the challenge path while Octopus's own
    http://<host>:80/ prefix is untouched: no restart.

    The tokens never come on the command line (a token may begin with '-', a parameter name to -File):
    -TokenFolder is created here with its final ACL (owner and full control: the running account;
    full control: SYSTEM and Administrators; nothing inherited), and must not exist before. The caller
    writes one file per token, named by the token and holding its key authorisation (public: the CA
    fetches it). GET <prefix><token> answers that file's content when <token> is base64url and the file
    exists at the time of the request; 404 for anything else.

    Writes "listener.ready" into -TokenFolder once listening; stops when "listener.stop" appears there or
    after -TimeoutSeconds, and unregisters the prefix in finally.
    Prints one JSON object: {"status":"ok","prefix":..,"served":n,"requests":n,"seconds":n}
    or {"status":"error",...}. Needs elevation (or a netsh http add urlacl reservation).
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string]$Prefix,
    [Parameter(Mandatory = $true)][string]$TokenFolder,
    [int]$TimeoutSeconds = 300
)

$ErrorActionPreference = 'Stop'
$phase = 'start'
$result = $null
$listener = $null
$served = 0
$requests = 0
$started = Get-Date
$challengePath = '/.well-known/acme-challenge/'
$tokenPattern = '^[A-Za-z0-9_-]{1,256}\z'
. (Join-Path $PSScriptRoot '_common.ps1')
try {
    if (-not $Prefix.EndsWith($challengePath)) {
        throw "Refusing prefix '$Prefix': only the ACME challenge path may be registered."
    }

    # The token folder, created with its final security descriptor (no window with the parent's ACL).
    $phase = 'folder'
    if (Test-Path -LiteralPath $TokenFolder) {
        throw "Refusing token folder '$TokenFolder': it exists already (it must be created by this script)."
    }
    $me = [System.Security.Principal.WindowsIdentity]::GetCurrent().User
    $security = New-Object System.Security.AccessControl.DirectorySecurity
    $inheritance = [System.Security.AccessControl.InheritanceFlags]'ContainerInherit, ObjectInherit'
    $security.SetAccessRuleProtection($true, $false)
    $security.SetOwner($me)
    $accounts = @(
        (New-Object System.Security.Principal.SecurityIdentifier -ArgumentList 'S-1-5-18'),
        (New-Object System.Security.Principal.SecurityIdentifier -ArgumentList 'S-1-5-32-544'),
        $me
    )
    foreach ($account in $accounts) {
        $rule = New-Object System.Security.AccessControl.FileSystemAccessRule -ArgumentList $account,
            ([System.Security.AccessControl.FileSystemRights]::FullControl), $inheritance,
            ([System.Security.AccessControl.PropagationFlags]::None),
            ([System.Security.AccessControl.AccessControlType]::Allow)
        $security.AddAccessRule($rule)
    }
    [void][System.IO.Directory]::CreateDirectory($TokenFolder, $security)
    if (@(Get-ChildItem -LiteralPath $TokenFolder -Force).Count -gt 0) {
        throw "Refusing token folder '$TokenFolder': something was put in it before the listener started."
    }
    $readyFile = Join-Path $TokenFolder 'listener.ready'
    $stopFile = Join-Path $TokenFolder 'listener.stop'

    $phase = 'register'
    $listener = New-Object System.Net.HttpListener
    $listener.Prefixes.Add($Prefix)
    $listener.Start()
    Set-Content -LiteralPath $readyFile -Value 'listening' -Encoding ASCII

    $phase = 'serve'
    $deadline = $started.AddSeconds($TimeoutSeconds)
    $pending = $listener.BeginGetContext($null, $null)
    while ((Get-Date) -lt $deadline -and -not (Test-Path -LiteralPath $stopFile)) {
        if (-not $pending.AsyncWaitHandle.WaitOne(250)) { continue }
        $context = $listener.EndGetContext($pending)
        $pending = $listener.BeginGetContext($null, $null)
        $requests = $requests + 1
        $response = $context.Response
        try {
            $path = $context.Request.Url.AbsolutePath
            $body = $null
            if ($context.Request.HttpMethod -eq 'GET' -and $path.StartsWith($challengePath)) {
                $token = $path.Substring($challengePath.Length)
                if ($token -cmatch $tokenPattern) {
                    $file = Join-Path $TokenFolder $token
                    try {
                        if (Test-Path -LiteralPath $file -PathType Leaf) {
                            $body = [System.IO.File]::ReadAllBytes($file)
                        }
                    }
                    catch {
                        $body = $null  # removed between the test and the read: not served any more
                    }
                }
            }
            if ($null -ne $body) {
                $response.StatusCode = 200
                $response.ContentType = 'application/octet-stream'
                $response.ContentLength64 = $body.Length
                $response.OutputStream.Write($body, 0, $body.Length)
                $served = $served + 1
            }
            else {
                $response.StatusCode = 404
            }
        }
        finally {
            $response.Close()
        }
    }
    $result = [ordered]@{
        status   = 'ok'
        prefix   = $Prefix
        served   = $served
        requests = $requests
        seconds  = [int]((Get-Date) - $started).TotalSeconds
    }
}
catch {
    $result = New-OctorunbookFailure -ErrorRecord $_ -Phase $phase
}
finally {
    if ($null -ne $listener) {
        try { $listener.Stop() } catch { }
        try { $listener.Close() } catch { }
    }
}
ConvertTo-OctorunbookJson -InputObject $result
if ($result.status -eq 'ok') { exit 0 } else { exit 1 }
