//! Checks of what an administrator types when enrolling users and devices: OpenSSH public
//! keys (a vendor's key, a device's host key), device addresses, login names, organisation
//! names and device credentials. Each check returns a message fit to show the person who
//! typed the value, and nothing here ever echoes a secret.

use crate::vault::Credential;
use russh::keys::{HashAlg, PublicKey};

/// Longest organisation name accepted, in characters.
pub const MAX_ORG_CHARS: usize = 100;
/// Longest device login name accepted, in characters.
pub const MAX_LOGIN_CHARS: usize = 64;
/// Longest device address accepted, in characters.
pub const MAX_ADDRESS_CHARS: usize = 255;

/// A public key that parsed, with its SHA-256 fingerprint in the `SHA256:…` form that the
/// broker computes for a presented key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedKey {
    /// The OpenSSH line as given, trimmed (comment kept).
    pub line: String,
    /// `TYPE BASE64`, without the comment: the pinned form of a host key.
    pub normalised: String,
    /// `SHA256:…`.
    pub fingerprint: String,
}

/// SHA-256 fingerprint of a key, as OpenSSH prints it.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Parses one OpenSSH public key line (`TYPE BASE64[ comment]`); `what` names it in errors.
pub fn parse_public_key(line: &str, what: &str) -> Result<ParsedKey, String> {
    let line = line.trim();
    if line.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if line.starts_with("-----BEGIN") {
        return Err(format!("{what} is a private key; give the public key (the .pub file) instead"));
    }
    // The text itself is not echoed: a mistaken file could hold a secret.
    let key = PublicKey::from_openssh(line)
        .map_err(|e| format!("{what} is not an OpenSSH public key line (expected \"TYPE BASE64 [comment]\"): {e}"))?;
    let mut bare = key.clone();
    bare.set_comment("");
    let normalised = bare.to_openssh().map_err(|e| format!("{what}: {e}"))?.trim().to_owned();
    Ok(ParsedKey { line: line.to_owned(), normalised, fingerprint: fingerprint(&key) })
}

/// Fingerprint of a pinned host key as stored, or `None` if it does not parse.
pub fn host_key_fingerprint(stored: &str) -> Option<String> {
    PublicKey::from_openssh(stored.trim()).ok().map(|k| fingerprint(&k))
}

/// Checks `HOST:PORT` (host name, IPv4, or `[IPv6]`) and returns it trimmed.
pub fn check_address(address: &str) -> Result<String, String> {
    let address = address.trim();
    let bad = || format!("address {address:?} must be HOST:PORT, e.g. 10.20.0.12:22 or pump12.icu.local:22");
    if address.is_empty() || address.len() > MAX_ADDRESS_CHARS {
        return Err(bad());
    }
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    if port.parse::<u16>().ok().filter(|p| *p != 0).is_none() {
        return Err(format!("address {address:?}: port must be a number from 1 to 65535"));
    }
    let host_ok = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        inner.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty()
            && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    };
    if !host_ok {
        return Err(bad());
    }
    Ok(address.to_owned())
}

/// Checks the account name the broker logs in to the device with.
pub fn check_login(login: &str) -> Result<String, String> {
    let login = login.trim();
    if login.is_empty() || login.chars().count() > MAX_LOGIN_CHARS {
        return Err(format!("login must be 1 to {MAX_LOGIN_CHARS} characters"));
    }
    if login.chars().any(|c| c.is_whitespace() || c.is_control() || c == ':') {
        return Err(format!("login {login:?} may not contain spaces, control characters or ':'"));
    }
    Ok(login.to_owned())
}

/// Checks an organisation name (free text, one line).
pub fn check_org(org: &str) -> Result<String, String> {
    let org = org.trim();
    if org.chars().count() > MAX_ORG_CHARS || org.chars().any(char::is_control) {
        return Err(format!("organisation must be one line of at most {MAX_ORG_CHARS} characters"));
    }
    Ok(org.to_owned())
}

/// Checks that a device credential is usable: a non-empty password, or an unencrypted
/// private key in a format the broker can load.
pub fn check_credential(c: &Credential) -> Result<(), String> {
    match c {
        Credential::Password(p) if p.is_empty() => Err("the device password is empty".into()),
        Credential::Password(_) => Ok(()),
        Credential::PrivateKey(pem) => russh::keys::decode_secret_key(pem, None).map(|_| ()).map_err(|e| {
            format!("the device key is not an unencrypted private key the broker can use (OpenSSH or PEM): {e}")
        }),
    }
}

/// An account's end, as an administrator types it: `YYYY-MM-DD` (the account works through
/// that day, UTC, so it ends at the next midnight) or an RFC 3339 time; Unix seconds.
pub fn parse_end_date(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if let Ok(t) = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        return Ok(t.unix_timestamp());
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, format)
        .map(|d| d.midnight().assume_utc().unix_timestamp() + 86_400)
        .map_err(|_| format!("{s:?} is not a date such as 2027-03-31 or a time such as 2027-03-31T18:00:00Z"))
}

/// Sorted, de-duplicated ports; 0 is refused.
pub fn check_ports(ports: &[u16]) -> Result<Vec<u16>, String> {
    if ports.contains(&0) {
        return Err("TCP port 0 is not a port".into());
    }
    let mut out = ports.to_vec();
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const ED: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGTVRpWbUzHHjUfJOT6sTbMJ/5Q2wQsvL41eenCzMebD";
    /// What `ssh-keygen -lf` prints for `ED`.
    const ED_FP: &str = "SHA256:xszIaIUyLkUpW+Kg1B4PDkbgNXQ8di0pURd9BwLTAwA";

    #[test]
    fn keys_are_parsed_and_normalised() {
        let k = parse_public_key(&format!("  {ED} jdoe@laptop \n"), "key").unwrap();
        assert_eq!(k.normalised, ED);
        assert_eq!(k.line, format!("{ED} jdoe@laptop"));
        assert_eq!(k.fingerprint, ED_FP, "must equal OpenSSH's fingerprint");
        assert_eq!(parse_public_key(ED, "key").unwrap().fingerprint, k.fingerprint);
        assert_eq!(host_key_fingerprint(ED), Some(k.fingerprint));
        let err = parse_public_key("ssh-ed25519 not-base64", "SSH key in jdoe.pub").unwrap_err();
        assert!(err.contains("SSH key in jdoe.pub") && err.contains("OpenSSH public key"), "{err}");
        assert!(parse_public_key("", "key").is_err());
        let private = parse_public_key("-----BEGIN OPENSSH PRIVATE KEY-----", "key").unwrap_err();
        assert!(private.contains("private key"), "{private}");
        assert!(host_key_fingerprint("garbage").is_none());
    }

    #[test]
    fn addresses() {
        for good in ["10.0.0.1:22", "pump.icu.local:2222", "[::1]:22", "localhost:1"] {
            assert!(check_address(good).is_ok(), "{good}");
        }
        for bad in ["", "10.0.0.1", "host:0", "host:70000", ":22", "a b:22", "[nope]:22", "x;rm:22"] {
            assert!(check_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn end_dates_cover_the_whole_day() {
        assert_eq!(parse_end_date("1970-01-01"), Ok(86_400));
        assert_eq!(parse_end_date(" 1970-01-01T00:01:00Z "), Ok(60));
        assert!(parse_end_date("31/03/2027").unwrap_err().contains("2027-03-31"));
    }

    #[test]
    fn logins_orgs_ports_credentials() {
        assert!(check_login("service").is_ok());
        assert!(check_login("a b").is_err() && check_login("").is_err());
        assert_eq!(check_org(" Acme Medical ").unwrap(), "Acme Medical");
        assert!(check_org("a\nb").is_err());
        assert_eq!(check_ports(&[443, 22, 443]).unwrap(), vec![22, 443]);
        assert!(check_ports(&[0]).is_err());
        assert!(check_credential(&Credential::Password(String::new())).is_err());
        assert!(check_credential(&Credential::PrivateKey("nope".into())).is_err());
        assert!(check_credential(&Credential::Password("x".into())).is_ok());
    }
}
