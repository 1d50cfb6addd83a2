# Shared helpers for the octorunbook scripts. Dot-sourced inside each script's try block; it defines
# functions only and prints nothing, so every script still prints exactly one JSON object.
#
# Windows PowerShell 5.1 safe: no ?. or ?? operators, no ternary, no ConvertTo-Json -AsArray
# (tests/targets/windows/test_scripts.py parses every script and checks these rules).
# The console is left alone: the scripts never set [Console]::OutputEncoding (that would last for the rest
# of an interactive session); they print ASCII-only JSON instead, which reads the same in every code page.
# Values handed back are plain strings, numbers and booleans; dates are formatted here, never serialised
# as DateTime (5.1 would print "\/Date(ms)\/").

function ConvertTo-OctorunbookJson {
    param($InputObject)
    # ASCII only: every character above 0x7E becomes \uXXXX (valid JSON: outside strings ConvertTo-Json
    # writes ASCII). Only string methods and operators, so it also works in Constrained Language Mode.
    $json = ConvertTo-Json -InputObject $InputObject -Depth 5 -Compress
    if ($json -notmatch '[^\x00-\x7E]') { return $json }
    $parts = foreach ($character in $json.ToCharArray()) {
        $code = [int]$character
        if ($code -gt 126) { '\u{0:x4}' -f $code } else { [string]$character }
    }
    return ($parts -join '')
}

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
    # A CryptoAPI key is opened through CryptoAPI: .PrivateKey gives an RSACryptoServiceProvider whose
    # CspKeyContainerInfo names the provider (and whose SHA-1 fallback test-private-key.ps1 relies on).
    # .NET Framework's GetRSAPrivateKey would open the same key through CNG and return RSACng, which says
    # nothing about where the key lives. For a CNG key .PrivateKey throws "Invalid provider type
    # specified" (0x80090014): then GetRSAPrivateKey / GetECDsaPrivateKey open it as RSACng / ECDsaCng.
    # Opening a key whose container is gone or unreadable throws "Keyset does not exist" (0x80090016).
    $legacy = $null
    try { $legacy = $Certificate.PrivateKey } catch { }
    if ($legacy -is [System.Security.Cryptography.RSA] -and $null -ne $legacy.CspKeyContainerInfo) {
        return $legacy
    }
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
    # Which kind of provider holds the key, from the key's own provider information (never the .NET type
    # name): CryptoAPI = CspKeyContainerInfo.ProviderName (provider type > 0); CNG = CngKey.Provider.
    # HTTP.sys has been reported to fail with error 1359 for some CNG keys, so the operator needs this.
    $info = [ordered]@{
        key_algorithm     = ''
        key_kind          = ''
        key_provider      = ''
        key_provider_type = $null
        key_exportable    = $null
    }
    if ($Key -is [System.Security.Cryptography.RSA]) {
        $info.key_algorithm = 'RSA ' + [string]$Key.KeySize
    }
    else {
        $info.key_algorithm = 'ECDSA ' + [string]$Key.KeySize
    }
    $csp = $null
    try { $csp = $Key.CspKeyContainerInfo } catch { }
    if ($null -ne $csp) {
        $info.key_kind = 'CryptoAPI'
        $info.key_provider = [string]$csp.ProviderName
        $info.key_provider_type = [int]$csp.ProviderType
        try { $info.key_exportable = [bool]$csp.Exportable } catch { }
        return $info
    }
    $cng = $null
    try { $cng = $Key.Key } catch { }
    if ($null -ne $cng -and $null -ne $cng.Provider) {
        $info.key_kind = 'CNG'
        $info.key_provider = [string]$cng.Provider.Provider
        $info.key_provider_type = 0
        # CngExportPolicies: AllowExport = 1, AllowPlaintextExport = 2
        try { $info.key_exportable = ((([int]$cng.ExportPolicy) -band 3) -ne 0) } catch { }
        return $info
    }
    $info.key_kind = 'unknown (' + $Key.GetType().Name + ')'
    return $info
}

function Test-OctorunbookSelfSigned {
    param($Certificate)
    # Issuer and subject the same encoded name: a root (or a self-signed leaf), never an intermediate.
    $subject = [Convert]::ToBase64String($Certificate.SubjectName.RawData)
    $issuer = [Convert]::ToBase64String($Certificate.IssuerName.RawData)
    return ($subject -eq $issuer)
}

function Remove-OctorunbookPersistedKey {
    param($Certificate)
    # Delete the key container a PersistKeySet import wrote for $Certificate. CryptoAPI: PersistKeyInCsp =
    # false, then Clear() deletes the container; CNG: CngKey.Delete(). Returns whether it was deleted.
    try {
        $legacy = $null
        try { $legacy = $Certificate.PrivateKey } catch { }
        if ($null -ne $legacy -and $null -ne $legacy.CspKeyContainerInfo) {
            $legacy.PersistKeyInCsp = $false
            $legacy.Clear()
            return $true
        }
        $key = Get-OctorunbookPrivateKey -Certificate $Certificate
        if ($null -ne $key -and $null -ne $key.Key) {
            $key.Key.Delete()
            return $true
        }
    }
    catch { }
    return $false
}

function Get-OctorunbookKeyContainerName {
    param($Certificate)
    # The unique name of the key container the certificate's key link points to; '' when it cannot be
    # read. CryptoAPI: CspKeyContainerInfo.UniqueKeyContainerName; CNG: CngKey.UniqueName.
    try {
        $key = Get-OctorunbookPrivateKey -Certificate $Certificate
        if ($null -eq $key) { return '' }
        $csp = $null
        try { $csp = $key.CspKeyContainerInfo } catch { }
        if ($null -ne $csp) { return [string]$csp.UniqueKeyContainerName }
        $cng = $null
        try { $cng = $key.Key } catch { }
        if ($null -ne $cng) { return [string]$cng.UniqueName }
    }
    catch { }
    return ''
}

function Test-OctorunbookKeySigns {
    param($Certificate)
    # The key test of test-private-key.ps1 as a yes/no: the certificate's private key opens and signs 32
    # bytes that its public key verifies (SHA-256; SHA-1 for an old CryptoAPI provider). Any failure: no.
    try {
        if (-not $Certificate.HasPrivateKey) { return $false }
        $key = Get-OctorunbookPrivateKey -Certificate $Certificate
        if ($null -eq $key) { return $false }
        $data = [byte[]](1..32)
        $hash = [System.Security.Cryptography.HashAlgorithmName]::SHA256
        if ($key -is [System.Security.Cryptography.RSA]) {
            $padding = [System.Security.Cryptography.RSASignaturePadding]::Pkcs1
            try {
                $signature = $key.SignData($data, $hash, $padding)
            }
            catch {
                $hash = [System.Security.Cryptography.HashAlgorithmName]::SHA1
                $signature = $key.SignData($data, $hash, $padding)
            }
            $public = [System.Security.Cryptography.X509Certificates.RSACertificateExtensions]::GetRSAPublicKey($Certificate)
            return [bool]$public.VerifyData($data, $signature, $hash, $padding)
        }
        $signature = $key.SignData($data, $hash)
        $ecdsa = 'System.Security.Cryptography.X509Certificates.ECDsaCertificateExtensions' -as [type]
        $public = $ecdsa::GetECDsaPublicKey($Certificate)
        return [bool]$public.VerifyData($data, $signature, $hash)
    }
    catch { }
    return $false
}

function Undo-OctorunbookImport {
    param([string]$StoreName, $Added, $ChainAdded, $Collection, $PresentBefore)
    # After a failed import: remove the certificates this run added (to StoreName and to CA) and the key
    # files it created; report what was removed and what could not be. Never the key of a certificate that
    # was in the store before the import ($PresentBefore): X509Store.Add of a certificate already present
    # re-points the present certificate to the new key, so that key may be the one it uses now.
    $removed = New-Object System.Collections.ArrayList
    $left = New-Object System.Collections.ArrayList
    $kept = New-Object System.Collections.ArrayList
    foreach ($pair in @(@($StoreName, $Added), @('CA', $ChainAdded))) {
        $name = $pair[0]
        foreach ($thumbprint in @($pair[1])) {
            if ([string]::IsNullOrEmpty($thumbprint)) { continue }
            try {
                $target = Open-OctorunbookStore -Name $name -Write $true
                try {
                    foreach ($certificate in $target.Certificates.Find([System.Security.Cryptography.X509Certificates.X509FindType]::FindByThumbprint, $thumbprint, $false)) {
                        $target.Remove($certificate)
                    }
                }
                finally {
                    $target.Close()
                }
                [void]$removed.Add($name + '\' + $thumbprint)
            }
            catch {
                [void]$left.Add($name + '\' + $thumbprint)
            }
        }
    }
    $keysDeleted = 0
    foreach ($certificate in $Collection) {
        if (-not $certificate.HasPrivateKey) { continue }
        if (@($PresentBefore) -contains [string]$certificate.Thumbprint) {
            [void]$kept.Add([string]$certificate.Thumbprint)
            continue
        }
        if (Remove-OctorunbookPersistedKey -Certificate $certificate) { $keysDeleted = $keysDeleted + 1 }
        else { [void]$left.Add('key of ' + [string]$certificate.Thumbprint) }
    }
    return [ordered]@{ removed = @($removed); keys_deleted = $keysDeleted; keys_kept = @($kept); left_behind = @($left) }
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

function New-OctorunbookPrivateSecurity {
    param([bool]$Folder)
    # The security descriptor of everything octorunbook keeps on a Windows host: owner
    # BUILTIN\Administrators, a protected DACL (nothing inherited from the parent, e.g. ProgramData,
    # where Users may create files) granting full control to SYSTEM and BUILTIN\Administrators only.
    # A folder passes both rules on to what is created inside it. Well-known SIDs, never account names:
    # names are translated on non-English Windows.
    if ($Folder) {
        $security = New-Object System.Security.AccessControl.DirectorySecurity
        $inheritance = [System.Security.AccessControl.InheritanceFlags]'ContainerInherit, ObjectInherit'
    }
    else {
        $security = New-Object System.Security.AccessControl.FileSecurity
        $inheritance = [System.Security.AccessControl.InheritanceFlags]::None
    }
    $security.SetAccessRuleProtection($true, $false)
    $security.SetOwner((New-Object System.Security.Principal.SecurityIdentifier -ArgumentList 'S-1-5-32-544'))
    foreach ($sid in @('S-1-5-18', 'S-1-5-32-544')) {
        $account = New-Object System.Security.Principal.SecurityIdentifier -ArgumentList $sid
        $rule = New-Object System.Security.AccessControl.FileSystemAccessRule -ArgumentList $account,
            ([System.Security.AccessControl.FileSystemRights]::FullControl), $inheritance,
            ([System.Security.AccessControl.PropagationFlags]::None),
            ([System.Security.AccessControl.AccessControlType]::Allow)
        $security.AddAccessRule($rule)
    }
    return $security
}

function Test-OctorunbookPathPresent {
    param([string]$LiteralPath)
    # GetAttributes reads the entry itself: a link or junction is present even when its target is not.
    try {
        [void][System.IO.File]::GetAttributes($LiteralPath)
        return $true
    }
    catch {
        $inner = Get-OctorunbookInnermostException -ErrorRecord $_
        if ($inner -is [System.IO.FileNotFoundException] -or $inner -is [System.IO.DirectoryNotFoundException]) {
            return $false
        }
        throw
    }
}

function Get-OctorunbookSecurityFacts {
    param([string]$LiteralPath)
    # Owner and DACL as SIDs and numbers (names and right names are translated; SIDs and masks are not).
    # A link or junction is reported and never followed: its target's ACL says nothing about who can
    # replace the link itself.
    $attributes = [int][System.IO.File]::GetAttributes($LiteralPath)
    $facts = [ordered]@{
        path          = $LiteralPath
        exists        = $true
        folder        = (($attributes -band 16) -ne 0)
        reparse_point = (($attributes -band 1024) -ne 0)
        owner_sid     = ''
        protected     = $false
        sddl          = ''
        rules         = @()
    }
    if ($facts.reparse_point) { return $facts }
    $acl = Get-Acl -LiteralPath $LiteralPath
    $sidType = [System.Security.Principal.SecurityIdentifier]
    $owner = $acl.GetOwner($sidType)
    if ($null -ne $owner) { $facts.owner_sid = [string]$owner.Value }
    $facts.protected = [bool]$acl.AreAccessRulesProtected
    $facts.sddl = [string]$acl.Sddl
    $facts.rules = @(foreach ($rule in $acl.GetAccessRules($true, $true, $sidType)) {
            [ordered]@{
                sid         = [string]$rule.IdentityReference.Value
                rights      = [int]$rule.FileSystemRights
                type        = [string]$rule.AccessControlType
                inherited   = [bool]$rule.IsInherited
                inheritance = [int]$rule.InheritanceFlags
                propagation = [int]$rule.PropagationFlags
            }
        })
    return $facts
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
        key_provider_type = $null
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
            $info.key_error_type = [string]$inner.GetType().FullName
        }
        finally {
            if ($null -ne $key) { try { $key.Dispose() } catch { } }
        }
    }
    return $info
}
