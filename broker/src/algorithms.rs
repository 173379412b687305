//! The SSH algorithms the broker speaks, on both hops, chosen once here.
//!
//! Towards vendors (the broker is the server) the lists follow ssh-audit's "Hardened OpenSSH
//! Server v10.4" policy, in its order: authenticated ciphers and counter-mode AES only,
//! encrypt-then-MAC SHA-2 MACs only, no finite-field Diffie-Hellman and no group exchange,
//! and compression only after authentication (`zlib@openssh.com`). Two deviations, both for
//! lack of an implementation in russh or in the clients vendors use: `curve25519-sha256` is
//! offered beside `mlkem768x25519-sha256` (OpenSSH clients before 9.9 have no ML-KEM, and
//! russh has no `sntrup761x25519-sha512`), and there is no `umac-128-etm`. The test policy in
//! `tests/ssh-audit/` says the same, and a test runs ssh-audit against the broker with it.
//!
//! Towards devices (the broker is the client) the broker's order decides, so the fastest
//! modern cipher comes first (AES-GCM runs at several GB/s per core with AES-NI), then
//! ChaCha20-Poly1305 and counter-mode AES; no CBC, no SHA-1, no finite-field Diffie-Hellman:
//! a device that offers nothing better is refused rather than spoken to weakly.

use russh::keys::{Algorithm, EcdsaCurve, HashAlg};
use russh::{cipher, compression, kex, mac, Preferred};
use std::borrow::Cow;

/// Key exchanges, both hops (the extension markers are russh's way to announce
/// `ext-info` and OpenSSH's strict key exchange).
const KEX: &[kex::Name] = &[
    kex::MLKEM768X25519_SHA256,
    kex::CURVE25519,
    kex::CURVE25519_PRE_RFC_8731,
    kex::EXTENSION_SUPPORT_AS_CLIENT,
    kex::EXTENSION_SUPPORT_AS_SERVER,
    kex::EXTENSION_OPENSSH_STRICT_KEX_AS_CLIENT,
    kex::EXTENSION_OPENSSH_STRICT_KEX_AS_SERVER,
];

/// Ciphers offered to vendors, in the hardened policy's order.
const SERVER_CIPHERS: &[cipher::Name] = &[
    cipher::CHACHA20_POLY1305,
    cipher::AES_256_GCM,
    cipher::AES_256_CTR,
    cipher::AES_192_CTR,
    cipher::AES_128_GCM,
    cipher::AES_128_CTR,
];

/// Ciphers asked of devices, fastest first.
const DEVICE_CIPHERS: &[cipher::Name] = &[
    cipher::AES_128_GCM,
    cipher::AES_256_GCM,
    cipher::CHACHA20_POLY1305,
    cipher::AES_128_CTR,
    cipher::AES_256_CTR,
];

/// Encrypt-then-MAC only (AEAD ciphers need no MAC at all).
const MACS: &[mac::Name] = &[mac::HMAC_SHA512_ETM, mac::HMAC_SHA256_ETM];

/// Towards vendors: none, or zlib once signed in; never before.
const SERVER_COMPRESSION: &[compression::Name] = &[compression::NONE, compression::ZLIB_LEGACY];

/// Towards devices: none (the hop is a local network; recording needs the plain bytes anyway).
const DEVICE_COMPRESSION: &[compression::Name] = &[compression::NONE];

/// Host and user key algorithms: no SHA-1 RSA signatures.
const KEYS: &[Algorithm] = &[
    Algorithm::Ed25519,
    Algorithm::Ecdsa { curve: EcdsaCurve::NistP256 },
    Algorithm::Ecdsa { curve: EcdsaCurve::NistP384 },
    Algorithm::Ecdsa { curve: EcdsaCurve::NistP521 },
    Algorithm::Rsa { hash: Some(HashAlg::Sha512) },
    Algorithm::Rsa { hash: Some(HashAlg::Sha256) },
];

/// What the broker offers vendors.
pub(crate) fn server() -> Preferred {
    Preferred {
        kex: Cow::Borrowed(KEX),
        key: Cow::Borrowed(KEYS),
        cipher: Cow::Borrowed(SERVER_CIPHERS),
        mac: Cow::Borrowed(MACS),
        compression: Cow::Borrowed(SERVER_COMPRESSION),
        ..Preferred::DEFAULT
    }
}

/// What the broker asks of devices.
pub(crate) fn device_client() -> Preferred {
    Preferred {
        kex: Cow::Borrowed(KEX),
        key: Cow::Borrowed(KEYS),
        cipher: Cow::Borrowed(DEVICE_CIPHERS),
        mac: Cow::Borrowed(MACS),
        compression: Cow::Borrowed(DEVICE_COMPRESSION),
        ..Preferred::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names<T: AsRef<str>>(list: &[T]) -> Vec<&str> {
        list.iter().map(AsRef::as_ref).collect()
    }

    #[test]
    fn nothing_weak_on_either_hop() {
        for p in [server(), device_client()] {
            for k in names(&p.kex) {
                assert!(!k.starts_with("diffie-hellman") && !k.starts_with("ecdh-sha2"), "{k}");
            }
            for c in names(&p.cipher) {
                assert!(!c.contains("cbc") && c != "3des-cbc" && c != "none", "{c}");
            }
            for m in names(&p.mac) {
                assert!(m.ends_with("-etm@openssh.com") && !m.contains("sha1"), "{m}");
            }
            assert!(!names(&p.compression).contains(&"zlib"), "no compression before authentication");
            assert!(!p.key.contains(&Algorithm::Rsa { hash: None }), "no SHA-1 RSA signatures");
        }
        assert!(names(&server().cipher).contains(&"aes128-gcm@openssh.com"));
        assert_eq!(names(&device_client().cipher)[0], "aes128-gcm@openssh.com", "the fastest cipher first towards devices");
    }
}
