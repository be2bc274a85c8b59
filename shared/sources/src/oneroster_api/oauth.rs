//! OAuth 1.0a one-legged request signing (RFC 5849) with HMAC-SHA256 or HMAC-SHA1, as
//! OneRoster 1.1 requires. Public so that the test kit's fake server verifies with the same
//! base-string rules.

use base64::Engine;
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use std::sync::atomic::{AtomicU64, Ordering};

/// Everything but the RFC 3986 unreserved set (`A-Z a-z 0-9 - . _ ~`) is encoded.
pub const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// RFC 3986 percent-encoding (upper-case hex), as OAuth 1.0a requires.
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, RFC3986).to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignatureMethod {
    #[default]
    HmacSha256,
    HmacSha1,
}

impl SignatureMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HmacSha256 => "HMAC-SHA256",
            Self::HmacSha1 => "HMAC-SHA1",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "HMAC-SHA256" => Some(Self::HmacSha256),
            "HMAC-SHA1" => Some(Self::HmacSha1),
            _ => None,
        }
    }
}

/// The signature base string: `METHOD&enc(base_uri)&enc(sorted, encoded params)`.
/// `params` are decoded query and `oauth_*` pairs (without `oauth_signature`).
pub fn base_string(http_method: &str, base_uri: &str, params: &[(String, String)]) -> String {
    let mut enc: Vec<(String, String)> =
        params.iter().map(|(k, v)| (encode(k), encode(v))).collect();
    enc.sort();
    let joined = enc
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    format!(
        "{}&{}&{}",
        http_method.to_ascii_uppercase(),
        encode(base_uri),
        encode(&joined)
    )
}

/// `base64(HMAC(enc(consumer_secret)&enc(token_secret), base_string))`.
pub fn sign(
    method: SignatureMethod,
    base_string: &str,
    consumer_secret: &str,
    token_secret: &str,
) -> String {
    let key = format!("{}&{}", encode(consumer_secret), encode(token_secret));
    let mac = match method {
        SignatureMethod::HmacSha256 => {
            Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).map(|mut m| {
                m.update(base_string.as_bytes());
                m.finalize().into_bytes().to_vec()
            })
        }
        SignatureMethod::HmacSha1 => {
            Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes()).map(|mut m| {
                m.update(base_string.as_bytes());
                m.finalize().into_bytes().to_vec()
            })
        }
    };
    // HMAC accepts keys of any length, so this never fails.
    base64::engine::general_purpose::STANDARD.encode(mac.unwrap_or_default())
}

/// The base string URI of a URL: lower-case scheme and host, the port only when not the
/// default, the path, no query or fragment.
pub fn base_uri(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    match url.port() {
        Some(p) => format!("{}://{host}:{p}{}", url.scheme(), url.path()),
        None => format!("{}://{host}{}", url.scheme(), url.path()),
    }
}

/// A nonce unique within this process and hard to guess across processes.
pub fn nonce() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let digest = <sha2::Sha256 as sha2::Digest>::digest(
        format!("{t}:{n}:{}", std::process::id()).as_bytes(),
    );
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The `Authorization: OAuth …` header value for a one-legged request to `url` (whose query
/// parameters are signed).
pub fn authorization(
    http_method: &str,
    url: &url::Url,
    consumer_key: &str,
    consumer_secret: &str,
    method: SignatureMethod,
    timestamp: u64,
    nonce: &str,
) -> String {
    let oauth: Vec<(String, String)> = vec![
        ("oauth_consumer_key".into(), consumer_key.into()),
        ("oauth_nonce".into(), nonce.into()),
        ("oauth_signature_method".into(), method.as_str().into()),
        ("oauth_timestamp".into(), timestamp.to_string()),
        ("oauth_version".into(), "1.0".into()),
    ];
    let mut params: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    params.extend(oauth.iter().cloned());
    let base = base_string(http_method, &base_uri(url), &params);
    let signature = sign(method, &base, consumer_secret, "");
    let mut parts: Vec<String> = oauth
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", encode(v)))
        .collect();
    parts.push(format!("oauth_signature=\"{}\"", encode(&signature)));
    format!("OAuth {}", parts.join(", "))
}

/// Parses an `Authorization: OAuth k="v", …` header into decoded pairs.
pub fn parse_authorization(header: &str) -> Option<Vec<(String, String)>> {
    let rest = header.trim().strip_prefix("OAuth")?.trim();
    let mut out = Vec::new();
    for part in rest.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (k, v) = part.split_once('=')?;
        let v = v.trim().trim_matches('"');
        let v = percent_encoding::percent_decode_str(v)
            .decode_utf8()
            .ok()?
            .into_owned();
        out.push((k.trim().to_string(), v));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 5849 §1.2 (three-legged, HMAC-SHA1): the signature must match the RFC's.
    #[test]
    fn rfc5849_example() {
        let params: Vec<(String, String)> = [
            ("file", "vacation.jpg"),
            ("size", "original"),
            ("oauth_consumer_key", "dpf43f3p2l4k3l03"),
            ("oauth_token", "nnch734d00sl2jdk"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", "137131202"),
            ("oauth_nonce", "chapoH"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let base = base_string("GET", "http://photos.example.net/photos", &params);
        assert_eq!(
            sign(
                SignatureMethod::HmacSha1,
                &base,
                "kd94hf93k423kf44",
                "pfkkdhi9sl3r4s00"
            ),
            "MdpQcU8iPSUjWoN/UDMsK2sui9I="
        );
    }

    #[test]
    fn encoding_is_rfc3986() {
        assert_eq!(encode("a b+c~d*e'f"), "a%20b%2Bc~d%2Ae%27f");
    }

    #[test]
    fn header_round_trip() {
        let url = url::Url::parse("http://Example.com:8080/x?filter=status%3D%27active%27&limit=5")
            .unwrap();
        let h = authorization("GET", &url, "k", "s", SignatureMethod::HmacSha256, 7, "n");
        let pairs = parse_authorization(&h).unwrap();
        assert!(pairs.contains(&("oauth_signature_method".into(), "HMAC-SHA256".into())));
        assert_eq!(base_uri(&url), "http://example.com:8080/x");
    }
}
