<#
.SYNOPSIS
    Answer one ACME HTTP-01 challenge through HTTP.sys while Octopus keeps serving everything else.
.DESCRIPTION
    Registers -Prefix (http://+:80/.well-known/acme-challenge/) with System.Net.HttpListener. HTTP.sys
    routes a request to the strongest, longest matching prefix, so this registration receives the CA's
    requests for the challenge path while Octopus's own http://<host>:80/ prefix is untouched: no
    restart. Answers GET <prefix><Token> with -KeyAuthorization (public: the CA fetches it), 404 for
    anything else. Writes "<StopFile>.ready" once listening; stops when -StopFile exists or after
    -TimeoutSeconds, and unregisters the prefix in finally.
    Prints one JSON object: {"status":"ok","prefix":..,"served":n,"requests":n,"seconds":n}
    or {"status":"error",...}. Needs elevation (or a netsh http add urlacl reservation).
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string]$Prefix,
    [Parameter(Mandatory = $true)][string]$Token,
    [Parameter(Mandatory = $true)][string]$KeyAuthorization,
    [Parameter(Mandatory = $true)][string]$StopFile,
    [int]$TimeoutSeconds = 300
)

$ErrorActionPreference = 'Stop'
$phase = 'start'
$result = $null
$listener = $null
$served = 0
$requests = 0
$started = Get-Date
. (Join-Path $PSScriptRoot '_common.ps1')
try {
    if ($Token -notmatch '^[A-Za-z0-9_-]{1,256}$') {
        throw "Invalid ACME token '$Token': base64url characters only."
    }
    if (-not $Prefix.EndsWith('/.well-known/acme-challenge/')) {
        throw "Refusing prefix '$Prefix': only the ACME challenge path may be registered."
    }

    $phase = 'register'
    $listener = New-Object System.Net.HttpListener
    $listener.Prefixes.Add($Prefix)
    $listener.Start()
    Set-Content -LiteralPath ($StopFile + '.ready') -Value 'listening' -Encoding ASCII

    $phase = 'serve'
    $body = [System.Text.Encoding]::ASCII.GetBytes($KeyAuthorization)
    $deadline = $started.AddSeconds($TimeoutSeconds)
    $pending = $listener.BeginGetContext($null, $null)
    while ((Get-Date) -lt $deadline -and -not (Test-Path -LiteralPath $StopFile)) {
        if (-not $pending.AsyncWaitHandle.WaitOne(250)) { continue }
        $context = $listener.EndGetContext($pending)
        $pending = $listener.BeginGetContext($null, $null)
        $requests = $requests + 1
        $response = $context.Response
        try {
            $path = $context.Request.Url.AbsolutePath
            if ($context.Request.HttpMethod -eq 'GET' -and $path -eq ('/.well-known/acme-challenge/' + $Token)) {
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
