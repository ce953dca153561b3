//! Where a webhook may point: an `http`/`https` URL with a host, and, under
//! `--webhook-deny-private`, no host that resolves to a loopback, private,
//! link-local or otherwise internal address (checked at definition and again at
//! every connection, so a name re-pointed later is refused too).

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::http::Uri;
use hyper_util::client::legacy::connect::dns::Name;

/// The longest URL a webhook may have.
pub const MAX_URL_LEN: usize = 2000;

/// Why a target is refused: (machine code, what for a person).
pub type Refusal = (&'static str, String);

/// The URL parsed and checked for shape (scheme, host, no credentials).
pub fn parse_url(url: &str) -> Result<Uri, Refusal> {
    let bad = |detail: &str| ("invalid_webhook_url", format!("url: {detail}"));
    if url.len() > MAX_URL_LEN {
        return Err(bad("longer than 2000 characters"));
    }
    if url.chars().any(char::is_control) {
        return Err(bad("holds a control character"));
    }
    let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(bad("the scheme must be http or https")),
    }
    let Some(authority) = uri.authority() else {
        return Err(bad("no host"));
    };
    if authority.as_str().contains('@') {
        return Err(bad("credentials in a URL would be shown to every admin"));
    }
    if authority.host().is_empty() {
        return Err(bad("no host"));
    }
    Ok(uri)
}

/// The host of a URL as an address, when it is one (`[::1]` included).
pub fn literal_ip(uri: &Uri) -> Option<IpAddr> {
    let host = uri.host()?;
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// Why a host cannot be connected to.
#[derive(Debug, thiserror::Error)]
pub enum Unreachable {
    /// It is, or resolves to, an internal address, and those are refused.
    #[error("resolves to {0}, an internal address")]
    Internal(IpAddr),
    /// It does not resolve.
    #[error("does not resolve ({0})")]
    Unresolvable(std::io::Error),
}

/// The addresses `host` stands for (an address itself, else what it resolves to),
/// refused when `deny_private` and any of them is internal: the one check behind
/// definitions, re-enabling and every connection of a delivery.
pub async fn addresses(host: &str, deny_private: bool) -> Result<Vec<SocketAddr>, Unreachable> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, 0)],
        Err(_) => tokio::net::lookup_host((host, 0))
            .await
            .map_err(Unreachable::Unresolvable)?
            .collect(),
    };
    if deny_private {
        if let Some(addr) = addrs.iter().find(|a| is_internal(a.ip())) {
            return Err(Unreachable::Internal(addr.ip()));
        }
    }
    Ok(addrs)
}

/// Refuses, when `deny_private`, a URL whose host is or resolves to an internal
/// address (a name that does not resolve is refused too: it cannot be checked).
pub async fn check_reachable(uri: &Uri, deny_private: bool) -> Result<(), Refusal> {
    if !deny_private {
        return Ok(());
    }
    let host = uri.host().unwrap_or_default();
    match addresses(host, true).await {
        Ok(_) => Ok(()),
        Err(Unreachable::Internal(ip)) => Err((
            "webhook_target_private",
            format!("url: resolves to {ip}, an internal address, and this server refuses those"),
        )),
        Err(Unreachable::Unresolvable(e)) => Err((
            "webhook_target_unresolvable",
            format!("url: {host} does not resolve ({e})"),
        )),
    }
}

/// Loopback, private, link-local, shared (CGNAT), unspecified, broadcast,
/// multicast, documentation and unique-local addresses, and IPv4 ones inside IPv6.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return internal_v4(v4);
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (first & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
                || is_v4_compatible_internal(v6)
        }
    }
}

fn internal_v4(v4: Ipv4Addr) -> bool {
    let [a, b, ..] = v4.octets();
    v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space 100.64/10
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18/15
        || a >= 240
}

/// `::a.b.c.d` (deprecated IPv4-compatible) naming an internal IPv4 address.
fn is_v4_compatible_internal(v6: Ipv6Addr) -> bool {
    let s = v6.segments();
    s[..6].iter().all(|x| *x == 0)
        && internal_v4(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            (s[6] & 0xff) as u8,
            (s[7] >> 8) as u8,
            (s[7] & 0xff) as u8,
        ))
}

/// The deliverer's DNS: the system's resolver, refusing (when `deny_private`) a
/// name any of whose addresses is internal, at every new connection.
#[derive(Debug, Clone, Copy)]
pub struct Resolver {
    /// Refuse internal addresses.
    pub deny_private: bool,
}

impl tower::Service<Name> for Resolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future =
        Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let deny_private = self.deny_private;
        Box::pin(async move {
            match addresses(name.as_str(), deny_private).await {
                Ok(addrs) => Ok(addrs.into_iter()),
                Err(Unreachable::Unresolvable(e)) => Err(e),
                Err(Unreachable::Internal(ip)) => Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    format!("{name} resolves to {ip}, an internal address"),
                )),
            }
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_urls_with_a_host_and_no_credentials() {
        assert!(parse_url("https://example.com/hook").is_ok());
        assert!(parse_url("http://10.0.0.1:8080/x?y=1").is_ok());
        for bad in [
            "ftp://example.com/",
            "example.com/hook",
            "https://",
            "https://user:pw@example.com/",
            "http://exa\u{0}mple.com/",
            "javascript:alert(1)",
            "",
        ] {
            assert_eq!(
                parse_url(bad).unwrap_err().0,
                "invalid_webhook_url",
                "{bad:?}"
            );
        }
        assert!(parse_url(&format!("https://e.com/{}", "a".repeat(2000))).is_err());
    }

    #[test]
    fn internal_addresses_are_named_as_such() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "255.255.255.255",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn a_loopback_target_is_refused_only_when_asked() {
        let uri = parse_url("http://127.0.0.1:9/hook").unwrap();
        assert!(check_reachable(&uri, false).await.is_ok());
        assert_eq!(
            check_reachable(&uri, true).await.unwrap_err().0,
            "webhook_target_private"
        );
        let uri = parse_url("http://localhost:9/hook").unwrap();
        assert_eq!(
            check_reachable(&uri, true).await.unwrap_err().0,
            "webhook_target_private"
        );
    }

    #[tokio::test]
    async fn one_check_serves_definitions_and_every_connection() {
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        assert!(matches!(
            addresses("[::1]", true).await,
            Err(Unreachable::Internal(found)) if found == ip("::1")
        ));
        assert!(matches!(
            addresses("localhost", true).await,
            Err(Unreachable::Internal(found)) if found.is_loopback()
        ));
        let allowed = addresses("127.0.0.1", false).await.unwrap();
        assert_eq!(allowed[0].ip(), ip("127.0.0.1"));
        assert!(addresses("8.8.8.8", true).await.is_ok());
        // The connector's resolver refuses the same, as an I/O error.
        let name: Name = "localhost".parse().unwrap();
        let refused = tower::Service::call(&mut Resolver { deny_private: true }, name)
            .await
            .unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::PermissionDenied);
        let name: Name = "localhost".parse().unwrap();
        let resolved = tower::Service::call(
            &mut Resolver {
                deny_private: false,
            },
            name,
        )
        .await
        .unwrap();
        assert!(resolved.into_iter().all(|a| a.ip().is_loopback()));
    }
}
