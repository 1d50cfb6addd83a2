<#
.SYNOPSIS
    Import a PFX into Cert:\LocalMachine\<StoreName> with its private key, then read it back.
.DESCRIPTION
    The PFX password comes from the environment variable OCTORUNBOOK_PFX_PASSWORD_CHILD, never from the
    command line; it is removed from this process's environment before anything else runs.
    Keys are stored with MachineKeySet | PersistKeySet, and Exportable only with -Exportable.
    The store is opened with OpenExistingOnly, so a missing store (WebHosting without IIS) is never created.
    The certificate with the private key goes into <StoreName>. The PFX's other certificates that are not
    self-signed (the intermediates) go into LocalMachine\CA, where HTTP.sys builds the chain it sends from;
    a self-signed root is never added (never to Root): it is reported in roots_not_added, to be distributed
    by group policy. chain_added lists the intermediates this run added (rollback removes only those).

    A certificate already in the store is never added again while its key passes the key test (sign and
    verify): X509Store.Add of a present certificate re-points it to the new key container (present_kept;
    the key this import persisted for it is deleted only when it is provably another container). One whose
    key fails the key test is re-imported, so it uses the PFX's key (present_reimported).

    With PersistKeySet the key files exist as soon as the PFX is read. If anything fails afterwards (adding,
    the read-back, a certificate stored without its key), the script removes what it added and the key files
    it created, and reports it in cleanup: {removed, keys_deleted, keys_kept, left_behind}; left_behind
    names anything it could not remove. The key of a certificate that was in the store before the import
    is never deleted (keys_kept): after Add it may be the key that certificate uses.

    Prints one JSON object; status is one of:
      ok                 certificate = the stored certificate as read back from the store; chain_added,
                         chain_present, roots_not_added
      store_missing      the store does not exist
      file_not_found     -FilePath cannot be read
      wrong_password     Windows says the password is wrong (also said for AES-256 PFX on Server 2016 and older)
      no_private_key     the PFX gave no certificate with a private key, or the store holds it without one
      not_elevated       access denied: not running as Administrator
      import_failed      the certificate is not in the store after adding it
      error              anything else: message, hresult, error_id
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string]$StoreName,
    [Parameter(Mandatory = $true)][string]$FilePath,
    [switch]$Exportable
)

$ErrorActionPreference = 'Stop'
$phase = 'start'
$result = $null
$password = $env:OCTORUNBOOK_PFX_PASSWORD_CHILD
$passwordReceived = ($null -ne $password)
if (-not $passwordReceived) { $password = '' }
Remove-Item -Path 'Env:\OCTORUNBOOK_PFX_PASSWORD_CHILD' -ErrorAction SilentlyContinue
# Functions only; loaded first so even a failure at the start is printed by the ASCII JSON writer.
. (Join-Path $PSScriptRoot '_common.ps1')
$collection = $null
$added = New-Object System.Collections.ArrayList
$chainAdded = New-Object System.Collections.ArrayList
$presentBefore = New-Object System.Collections.ArrayList
$presentKept = New-Object System.Collections.ArrayList
$presentReimported = New-Object System.Collections.ArrayList
$unusedKeysDeleted = 0
$succeeded = $false
try {
    Assert-OctorunbookStoreName -Name $StoreName

    $phase = 'read'
    if (-not (Test-Path -LiteralPath $FilePath -PathType Leaf)) {
        $result = [ordered]@{
            status            = 'file_not_found'
            message           = "Cannot find the PFX file '$FilePath'."
            password_received = $passwordReceived
        }
    }
    else {
        $phase = 'open'
        $store = Open-OctorunbookStore -Name $StoreName -Write $true
        try {
            $phase = 'import'
            if ($Exportable) {
                $flags = [System.Security.Cryptography.X509Certificates.X509KeyStorageFlags]'MachineKeySet, PersistKeySet, Exportable'
            }
            else {
                $flags = [System.Security.Cryptography.X509Certificates.X509KeyStorageFlags]'MachineKeySet, PersistKeySet'
            }
            $collection = New-Object System.Security.Cryptography.X509Certificates.X509Certificate2Collection
            $collection.Import($FilePath, $password, $flags)
            $keyed = @($collection | Where-Object { $_.HasPrivateKey })
            $others = @($collection | Where-Object { -not $_.HasPrivateKey })
            if ($keyed.Count -eq 0) {
                $result = [ordered]@{
                    status               = 'no_private_key'
                    message              = 'The PFX holds no certificate with a private key.'
                    certificates_in_file = [int]$collection.Count
                    password_received    = $passwordReceived
                }
            }
            else {
                $phase = 'add'
                $primary = $keyed[0]
                $before = $store.Certificates.Find([System.Security.Cryptography.X509Certificates.X509FindType]::FindByThumbprint, $primary.Thumbprint, $false)
                $alreadyPresent = ($before.Count -gt 0)
                $imported = New-Object System.Collections.ArrayList
                # Which certificates are present before anything is added: their keys are never deleted.
                foreach ($certificate in $keyed) {
                    $present = $store.Certificates.Find([System.Security.Cryptography.X509Certificates.X509FindType]::FindByThumbprint, $certificate.Thumbprint, $false)
                    if ($present.Count -gt 0) { [void]$presentBefore.Add([string]$certificate.Thumbprint) }
                }
                foreach ($certificate in $keyed) {
                    $thumbprint = [string]$certificate.Thumbprint
                    $present = $store.Certificates.Find([System.Security.Cryptography.X509Certificates.X509FindType]::FindByThumbprint, $thumbprint, $false)
                    if ($present.Count -eq 0) {
                        $store.Add($certificate)
                        [void]$imported.Add($thumbprint)
                        [void]$added.Add($thumbprint)
                    }
                    elseif (Test-OctorunbookKeySigns -Certificate $present[0]) {
                        # Present with a working key: not added again (Add would re-point it to the new key).
                        # The key this import persisted is deleted only when it is provably another container.
                        [void]$presentKept.Add($thumbprint)
                        $inUse = Get-OctorunbookKeyContainerName -Certificate $present[0]
                        $persisted = Get-OctorunbookKeyContainerName -Certificate $certificate
                        if ($inUse -ne '' -and $persisted -ne '' -and $inUse -ne $persisted) {
                            if (Remove-OctorunbookPersistedKey -Certificate $certificate) { $unusedKeysDeleted = $unusedKeysDeleted + 1 }
                        }
                    }
                    else {
                        # Present, but its key fails the key test: re-imported, so it uses the key from the PFX.
                        $store.Add($certificate)
                        [void]$imported.Add($thumbprint)
                        [void]$presentReimported.Add($thumbprint)
                    }
                }

                # The chain: intermediates into LocalMachine\CA (HTTP.sys sends what it can build from the
                # machine stores); a self-signed root is reported, never added.
                $phase = 'chain'
                $chainPresent = New-Object System.Collections.ArrayList
                $roots = New-Object System.Collections.ArrayList
                $intermediates = @($others | Where-Object { -not (Test-OctorunbookSelfSigned -Certificate $_) })
                foreach ($certificate in @($others | Where-Object { Test-OctorunbookSelfSigned -Certificate $_ })) {
                    [void]$roots.Add([ordered]@{ thumbprint = [string]$certificate.Thumbprint; subject = [string]$certificate.Subject })
                }
                if ($intermediates.Count -gt 0) {
                    $ca = Open-OctorunbookStore -Name 'CA' -Write $true
                    try {
                        foreach ($certificate in $intermediates) {
                            $present = $ca.Certificates.Find([System.Security.Cryptography.X509Certificates.X509FindType]::FindByThumbprint, $certificate.Thumbprint, $false)
                            if ($present.Count -gt 0) {
                                [void]$chainPresent.Add([string]$certificate.Thumbprint)
                            }
                            else {
                                $ca.Add($certificate)
                                [void]$chainAdded.Add([string]$certificate.Thumbprint)
                            }
                        }
                    }
                    finally {
                        $ca.Close()
                    }
                }

                # Read back from a fresh handle: the return value of an import is not proof.
                $phase = 'verify'
                $check = Open-OctorunbookStore -Name $StoreName -Write $false
                try {
                    $found = $check.Certificates.Find([System.Security.Cryptography.X509Certificates.X509FindType]::FindByThumbprint, $primary.Thumbprint, $false)
                    if ($found.Count -eq 0) {
                        $result = [ordered]@{
                            status  = 'import_failed'
                            message = 'The certificate is not in the store after it was added.'
                        }
                    }
                    elseif (-not $found[0].HasPrivateKey) {
                        $result = [ordered]@{
                            status               = 'no_private_key'
                            message              = 'The store holds the certificate without its private key.'
                            certificates_in_file = [int]$collection.Count
                            password_received    = $passwordReceived
                        }
                    }
                    else {
                        $succeeded = $true
                        $result = [ordered]@{
                            status               = 'ok'
                            certificate          = (Get-OctorunbookCertificateInfo -Certificate $found[0] -StoreName $StoreName -WithKey $true)
                            imported_thumbprints = @($imported)
                            already_present      = $alreadyPresent
                            present_kept         = @($presentKept)
                            present_reimported   = @($presentReimported)
                            unused_keys_deleted  = $unusedKeysDeleted
                            other_certificates   = [int]$others.Count
                            chain_added          = @($chainAdded)
                            chain_present        = @($chainPresent)
                            roots_not_added      = @($roots)
                            exportable_requested = [bool]$Exportable
                        }
                    }
                }
                finally {
                    $check.Close()
                }
            }
        }
        finally {
            $store.Close()
        }
    }
}
catch {
    $result = New-OctorunbookFailure -ErrorRecord $_ -Phase $phase
    $result.password_received = $passwordReceived
    if ($phase -eq 'import' -and $result.status -eq 'error') {
        # ERROR_INVALID_PASSWORD 0x80070056: a wrong password, or an AES-256 PFX this Windows cannot read.
        if ($result.hresult -eq -2147024810 -or $result.message -match 'password') { $result.status = 'wrong_password' }
        elseif ($result.hresult -eq -2147024894) { $result.status = 'file_not_found' }
    }
}
if (-not $succeeded -and $null -ne $collection) {
    # Leave nothing behind: what this run added, and the key files PersistKeySet created.
    $result.cleanup = Undo-OctorunbookImport -StoreName $StoreName -Added $added -ChainAdded $chainAdded -Collection $collection -PresentBefore $presentBefore
}
ConvertTo-OctorunbookJson -InputObject $result
if ($result.status -eq 'ok') { exit 0 } else { exit 1 }
