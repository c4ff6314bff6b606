"""Why a TLS session did not come about: the ssl module's error inside requests' and urllib3's, the
OpenSSL codes and reasons that tell its causes apart, and the words for a peer other than Rancher;
pure. `http` words Rancher's own TLS failures from the same causes (with the setting that fixes
each); `notify` words a webhook's with `problem`, so the two agree."""

from __future__ import annotations

import ssl

# OpenSSL's verify codes (include/openssl/x509_vfy.h) for a chain no trusted CA signs: the cases a CA
# bundle can fix. X509_V_ERR_HOSTNAME_MISMATCH (62) and X509_V_ERR_IP_ADDRESS_MISMATCH (64): a
# certificate for another name or address.
UNTRUSTED_ISSUER = frozenset({2, 7, 18, 19, 20, 21, 27, 28})
NAME_MISMATCH = frozenset({62, 64})
# Loading the CA file found nothing to trust (a DER file, a key, any other text): OpenSSL's X509 reason.
NO_CERTIFICATE = frozenset({"NO_CERTIFICATE_OR_CRL_FOUND"})
# What OpenSSL says when the first bytes back are not a TLS record, as when an HTTP server answers a
# ClientHello with "HTTP/1.1 400": WRONG_VERSION_NUMBER (OpenSSL 1.1 to 3.1), RECORD_LAYER_FAILURE
# (3.2+), PACKET_LENGTH_TOO_LONG and UNKNOWN_PROTOCOL on other bytes.
NOT_TLS = frozenset({"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "UNKNOWN_PROTOCOL"})


def problem(error: BaseException) -> str:
    """Why no TLS session came about with a peer other than Rancher (a webhook), by cause, in the
    terms `http.RancherSession._tls_failure` tells them apart by: a certificate that failed verification
    (for another name, from an issuer nobody trusts, or otherwise invalid), the peer closing the
    connection mid-handshake, a peer that does not speak TLS, or another handshake failure (a protocol
    version or cipher the two do not share). Text such as "its TLS certificate could not be verified
    (...)", to follow "not delivered: "; OpenSSL's reason only, never the URL."""
    cause = ssl_cause(error)
    if isinstance(cause, ssl.SSLCertVerificationError):
        reason = str(cause.verify_message or cause.reason or "no reason given").rstrip(".")
        if cause.verify_code in NAME_MISMATCH:
            return f"its TLS certificate is not valid for that address ({reason})"
        if cause.verify_code in UNTRUSTED_ISSUER:
            return f"its TLS certificate could not be verified ({reason}): no CA in the bundle signs it"
        return f"its TLS certificate could not be verified ({reason})"
    if isinstance(cause, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
        return "it closed the connection during the TLS handshake"
    reason = str(getattr(cause, "reason", None) or type(cause).__name__)
    if reason in NOT_TLS:
        return f"it did not answer in TLS ({reason}); does that address speak https?"
    return f"the TLS handshake failed ({reason})"


def ssl_cause(error: BaseException) -> BaseException:
    """The ssl module's exception inside requests' SSLError (wrapped by urllib3's MaxRetryError and
    SSLError), else the error itself."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        inner = getattr(current, "reason", None)
        if not isinstance(inner, BaseException):
            inner = next((arg for arg in current.args if isinstance(arg, BaseException)), None)
        current = inner or current.__cause__ or current.__context__
    return error
