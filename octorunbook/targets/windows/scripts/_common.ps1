# Shared helpers for the octorunbook scripts. Dot-sourced inside each script's try block; it defines
# functions only and prints nothing, so every script still prints exactly one JSON object.
#
# Windows PowerShell 5.1 safe: no ?. or ?? operators, no ternary, no ConvertTo-Json -AsArray.
# Values handed back are plain strings, numbers and booleans; dates are formatted here, never serialised
# as DateTime (5.1 would print "\/Date(ms)\/").

function Assert-OctorunbookStoreName {
    param([string]$Name)
    # Store names go into a path and a .NET store name: letters and digits only (My, WebHosting, ...).
    if ($Name -notmatch '^[A-Za-z0-9]{1,64}$') {
        throw "Invalid certificate store name '$Name': use My or WebHosting."
    }
}

function ConvertTo-OctorunbookThumbprint {
    param([string]$Value)
    # Thumbprints copied from the MMC carry an invisible leading character; keep hex digits only.
    $clean = ($Value -replace '[^0-9A-Fa-f]', '').ToUpperInvariant()
    if ($clean.Length -ne 40) {
        throw "Invalid thumbprint '$Value': expected 40 hexadecimal characters."
    }
    return $clean
}

function Open-OctorunbookStore {
    param([string]$Name, [bool]$Write)
    # OpenExistingOnly: X509Store.Open(ReadWrite) alone would silently CREATE a missing store
    # (WebHosting is absent until IIS is installed). A missing store throws instead.
    if ($Write) {
        $flags = [System.Security.Cryptography.X509Certificates.OpenFlags]'ReadWrite, OpenExistingOnly'
    }
    else {
        $flags = [System.Security.Cryptography.X509Certificates.OpenFlags]'ReadOnly, OpenExistingOnly'
    }
    $location = [System.Security.Cryptography.X509Certificates.StoreLocation]::LocalMachine
    $store = New-Object System.Security.Cryptography.X509Certificates.X509Store -ArgumentList $Name, $location
    $store.Open($flags)
    return $store
}

function Format-OctorunbookDate {
    param([datetime]$Value)
    # NotBefore/NotAfter are local time; 'o' is culture-invariant: 2026-01-01T00:00:00.0000000Z
    return $Value.ToUniversalTime().ToString('o')
}

function Read-OctorunbookDerLength {
    param([byte[]]$Bytes, [int]$Index)
    # Returns two numbers: the length and the index just after the length octets.
    $first = [int]$Bytes[$Index]
    $Index = $Index + 1
    if ($first -lt 128) {
        return @($first, $Index)
    }
    $count = $first - 128
    $length = 0
    for ($n = 0; $n -lt $count; $n++) {
        $length = ($length * 256) + [int]$Bytes[$Index]
        $Index = $Index + 1
    }
    return @($length, $Index)
}

function Get-OctorunbookSanDnsNames {
    param($Certificate)
    # DNS names from the SubjectAlternativeName extension itself (OID 2.5.29.17), read from its DER:
    # GeneralNames ::= SEQUENCE OF GeneralName; dNSName is [2] IA5String (tag 0x82).
    # Not DnsNameList, which falls back to the subject CN when there is no SAN, and not
    # X509Extension.Format(), whose text is localised.
    foreach ($extension in $Certificate.Extensions) {
        if ($extension.Oid.Value -ne '2.5.29.17') { continue }
        $bytes = [byte[]]$extension.RawData
        if ($bytes.Length -lt 2 -or $bytes[0] -ne 0x30) { continue }
        $header = Read-OctorunbookDerLength -Bytes $bytes -Index 1
        $index = [int]$header[1]
        $end = [Math]::Min($index + [int]$header[0], $bytes.Length)
        while ($index -lt $end) {
            $tag = [int]$bytes[$index]
            $element = Read-OctorunbookDerLength -Bytes $bytes -Index ($index + 1)
            $length = [int]$element[0]
            $start = [int]$element[1]
            if ($tag -eq 0x82 -and ($start + $length) -le $bytes.Length) {
                [string]([System.Text.Encoding]::ASCII.GetString($bytes, $start, $length))
            }
            $index = $start + $length
        }
    }
}

function Get-OctorunbookEkuOids {
    param($Certificate)
    foreach ($extension in $Certificate.Extensions) {
        if ($extension.Oid.Value -ne '2.5.29.37') { continue }
        $eku = New-Object System.Security.Cryptography.X509Certificates.X509EnhancedKeyUsageExtension -ArgumentList $extension, $extension.Critical
        foreach ($oid in $eku.EnhancedKeyUsages) {
            [string]$oid.Value
        }
    }
}

function Get-OctorunbookPrivateKey {
    param($Certificate)
    # GetRSAPrivateKey / GetECDsaPrivateKey, never .PrivateKey: on 5.1 .PrivateKey throws
    # "Invalid provider type specified" for a key in a CNG key storage provider.
    # Opening a key whose container is gone or unreadable throws "Keyset does not exist" (0x80090016).
    $key = [System.Security.Cryptography.X509Certificates.RSACertificateExtensions]::GetRSAPrivateKey($Certificate)
    if ($null -eq $key) {
        $ecdsa = 'System.Security.Cryptography.X509Certificates.ECDsaCertificateExtensions' -as [type]
        if ($null -ne $ecdsa) {
            $key = $ecdsa::GetECDsaPrivateKey($Certificate)
        }
    }
    return $key
}

function Get-OctorunbookKeyDescription {
    param($Key)
    # Which kind of provider holds the key: CNG (a key storage provider) or CryptoAPI (a CSP).
    # HTTP.sys has been reported to fail with error 1359 for some CNG keys, so the operator needs this.
    $info = [ordered]@{
        key_algorithm  = ''
        key_kind       = ''
        key_provider   = ''
        key_exportable = $null
    }
    $typeName = $Key.GetType().Name
    if ($Key -is [System.Security.Cryptography.RSA]) {
        $info.key_algorithm = 'RSA ' + [string]$Key.KeySize
    }
    else {
        $info.key_algorithm = 'ECDSA ' + [string]$Key.KeySize
    }
    if ($typeName -like '*Cng') {
        $info.key_kind = 'CNG'
        try { $info.key_provider = [string]$Key.Key.Provider.Provider } catch { }
        # CngExportPolicies: AllowExport = 1, AllowPlaintextExport = 2
        try { $info.key_exportable = ((([int]$Key.Key.ExportPolicy) -band 3) -ne 0) } catch { }
    }
    elseif ($typeName -like '*CryptoServiceProvider') {
        $info.key_kind = 'CryptoAPI'
        try { $info.key_provider = [string]$Key.CspKeyContainerInfo.ProviderName } catch { }
        try { $info.key_exportable = [bool]$Key.CspKeyContainerInfo.Exportable } catch { }
    }
    else {
        $info.key_kind = $typeName
    }
    # The provider name is the better witness where the object type and the name disagree.
    if ($info.key_provider -like '*Key Storage Provider*') { $info.key_kind = 'CNG' }
    elseif ($info.key_provider -like '*Cryptographic Provider*') { $info.key_kind = 'CryptoAPI' }
    return $info
}

function Get-OctorunbookInnermostException {
    param($ErrorRecord)
    # .NET method calls from PowerShell wrap the real exception in a MethodInvocationException.
    $exception = $ErrorRecord.Exception
    while ($null -ne $exception.InnerException) {
        $exception = $exception.InnerException
    }
    return $exception
}

function New-OctorunbookFailure {
    param($ErrorRecord, [string]$Phase)
    # The result for an exception, with the outcomes every script shares; a script may refine status.
    #   store_missing  opening the store failed with 0x80070002 "The system cannot find the file specified"
    #   not_elevated   0x80070005 / UnauthorizedAccessException: not running as Administrator
    $inner = Get-OctorunbookInnermostException -ErrorRecord $ErrorRecord
    $hresult = [int]$inner.HResult
    $status = 'error'
    if ($Phase -eq 'open' -and $hresult -eq -2147024894) { $status = 'store_missing' }
    elseif ($hresult -eq -2147024891 -or $inner -is [System.UnauthorizedAccessException]) { $status = 'not_elevated' }
    return [ordered]@{
        status         = $status
        phase          = $Phase
        message        = [string]$inner.Message
        outer_message  = [string]$ErrorRecord.Exception.Message
        exception_type = [string]$inner.GetType().FullName
        hresult        = $hresult
        error_id       = [string]$ErrorRecord.FullyQualifiedErrorId
    }
}

function Get-OctorunbookCertificateInfo {
    param($Certificate, [string]$StoreName, [bool]$WithKey)
    $info = [ordered]@{
        thumbprint      = [string]$Certificate.Thumbprint
        store           = $StoreName
        subject         = [string]$Certificate.Subject
        issuer          = [string]$Certificate.Issuer
        friendly_name   = [string]$Certificate.FriendlyName
        not_before      = (Format-OctorunbookDate -Value $Certificate.NotBefore)
        not_after       = (Format-OctorunbookDate -Value $Certificate.NotAfter)
        has_private_key = [bool]$Certificate.HasPrivateKey
        dns_names       = @(Get-OctorunbookSanDnsNames -Certificate $Certificate)
        eku_oids        = @(Get-OctorunbookEkuOids -Certificate $Certificate)
        raw             = [Convert]::ToBase64String($Certificate.RawData)
        key_algorithm   = ''
        key_kind        = ''
        key_provider    = ''
        key_exportable  = $null
        key_error       = ''
        key_hresult     = 0
    }
    if ($WithKey -and $Certificate.HasPrivateKey) {
        $key = $null
        try {
            $key = Get-OctorunbookPrivateKey -Certificate $Certificate
            if ($null -eq $key) {
                $info.key_error = 'The key algorithm is neither RSA nor ECDSA.'
            }
            else {
                $description = Get-OctorunbookKeyDescription -Key $key
                foreach ($name in @($description.Keys)) { $info[$name] = $description[$name] }
            }
        }
        catch {
            $inner = Get-OctorunbookInnermostException -ErrorRecord $_
            $info.key_error = [string]$inner.Message
            $info.key_hresult = [int]$inner.HResult
        }
        finally {
            if ($null -ne $key) { try { $key.Dispose() } catch { } }
        }
    }
    return $info
}
