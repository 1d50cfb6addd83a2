<#
.SYNOPSIS
    Prove the private key of a LocalMachine certificate is usable: sign 32 bytes, verify with the certificate.
.DESCRIPTION
    HasPrivateKey only says key-provider information is attached; it does not prove the key container
    exists or that this account may open it. The key is opened with GetRSAPrivateKey / GetECDsaPrivateKey
    (never .PrivateKey), used to sign, and the signature is checked with the certificate's public key.

    Prints one JSON object; status is one of:
      ok                  signed and verified: algorithm, hash, key_kind, key_provider
      verify_failed       signed, but the signature does not verify: the key does not belong to the certificate
      key_not_accessible  the key cannot be opened: "Keyset does not exist" 0x80090016, "Invalid provider
                          type specified" 0x80090014 (a CNG key .NET fell back to .PrivateKey for),
                          ArgumentNullException (GetECDsaPrivateKey with no key handle), or access denied
      no_private_key      the certificate has no private key, or one that is neither RSA nor ECDSA
      not_found           no such certificate in the store
      store_missing       the store does not exist
      error               anything else
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string]$StoreName,
    [Parameter(Mandatory = $true)][string]$Thumbprint
)

$ErrorActionPreference = 'Stop'
$phase = 'start'
$result = $null
# Functions only; loaded first so even a failure at the start is printed by the ASCII JSON writer.
. (Join-Path $PSScriptRoot '_common.ps1')
try {
    Assert-OctorunbookStoreName -Name $StoreName
    $wanted = ConvertTo-OctorunbookThumbprint -Value $Thumbprint

    $phase = 'open'
    $store = Open-OctorunbookStore -Name $StoreName -Write $false
    try {
        $phase = 'read'
        $found = $store.Certificates.Find([System.Security.Cryptography.X509Certificates.X509FindType]::FindByThumbprint, $wanted, $false)
    }
    finally {
        $store.Close()
    }
    if ($found.Count -eq 0) {
        $result = [ordered]@{ status = 'not_found'; store = $StoreName; thumbprint = $wanted }
    }
    elseif (-not $found[0].HasPrivateKey) {
        $result = [ordered]@{ status = 'no_private_key'; message = 'The certificate has no private key.' }
    }
    else {
        $certificate = $found[0]
        $phase = 'open-key'
        $key = Get-OctorunbookPrivateKey -Certificate $certificate
        if ($null -eq $key) {
            $result = [ordered]@{ status = 'no_private_key'; message = 'The private key is neither RSA nor ECDSA.' }
        }
        else {
            try {
                $description = Get-OctorunbookKeyDescription -Key $key
                $phase = 'sign'
                $data = [byte[]](1..32)
                $hashName = 'SHA256'
                $hash = [System.Security.Cryptography.HashAlgorithmName]::SHA256
                if ($key -is [System.Security.Cryptography.RSA]) {
                    $padding = [System.Security.Cryptography.RSASignaturePadding]::Pkcs1
                    try {
                        $signature = $key.SignData($data, $hash, $padding)
                    }
                    catch {
                        # NTE_BAD_ALGID 0x80090008: an old CryptoAPI provider that cannot do SHA-256
                        # (Microsoft Enhanced Cryptographic Provider v1.0). SHA-1 still proves the key works.
                        $signInner = Get-OctorunbookInnermostException -ErrorRecord $_
                        if ([int]$signInner.HResult -ne -2146893816) { throw }
                        $hashName = 'SHA1'
                        $hash = [System.Security.Cryptography.HashAlgorithmName]::SHA1
                        $signature = $key.SignData($data, $hash, $padding)
                    }
                    $phase = 'verify'
                    $public = [System.Security.Cryptography.X509Certificates.RSACertificateExtensions]::GetRSAPublicKey($certificate)
                    $verified = [bool]$public.VerifyData($data, $signature, $hash, $padding)
                }
                else {
                    $signature = $key.SignData($data, $hash)
                    $phase = 'verify'
                    $ecdsa = 'System.Security.Cryptography.X509Certificates.ECDsaCertificateExtensions' -as [type]
                    $public = $ecdsa::GetECDsaPublicKey($certificate)
                    $verified = [bool]$public.VerifyData($data, $signature, $hash)
                }
                $status = 'verify_failed'
                if ($verified) { $status = 'ok' }
                $result = [ordered]@{
                    status         = $status
                    thumbprint     = $wanted
                    key_algorithm  = $description.key_algorithm
                    key_kind       = $description.key_kind
                    key_provider   = $description.key_provider
                    key_provider_type = $description.key_provider_type
                    key_exportable = $description.key_exportable
                    hash           = $hashName
                    signed_bytes   = [int]$data.Length
                }
            }
            finally {
                try { $key.Dispose() } catch { }
            }
        }
    }
}
catch {
    $result = New-OctorunbookFailure -ErrorRecord $_ -Phase $phase
    if ($phase -eq 'open-key' -or $phase -eq 'sign') {
        # NTE_BAD_KEYSET 0x80090016 "Keyset does not exist", NTE_BAD_PROV_TYPE 0x80090014 "Invalid provider
        # type specified", ArgumentNullException from GetECDsaPrivateKey, access denied on the key file, or
        # any other failure to open or use the key: the key is not usable by this account. The message,
        # hresult and exception_type above let the caller say which.
        $result.status = 'key_not_accessible'
    }
}
ConvertTo-OctorunbookJson -InputObject $result
if ($result.status -eq 'ok') { exit 0 } else { exit 1 }
