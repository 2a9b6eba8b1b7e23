//! Who the client is, for the limits: the TCP peer, or, when the peer is one of the configured
//! trusted proxies (`TRUSTED_PROXIES`), the nearest address in `X-Forwarded-For` that is not one
//! of them. A client that is not behind a trusted proxy cannot choose its address with the header.
//!
//! An IPv6 client is counted by its /64: one home or phone gets a whole /64 and can use any of its
//! addresses, so counting by /128 would give it billions of budgets.

use std::net::IpAddr;

use ipnet::IpNet;
use poem::Request;

/// The client's address as the limits see it.
pub fn address(req: &Request, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = req
        .remote_addr()
        .as_socket_addr()
        .map(|a| canonical(a.ip()))?;
    if !is_trusted(peer, trusted) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok().map(canonical))
        .collect();
    // From the nearest hop outwards: the first address no trusted proxy vouches for.
    Some(
        forwarded
            .iter()
            .rev()
            .copied()
            .find(|a| !is_trusted(*a, trusted))
            .or_else(|| forwarded.first().copied())
            .unwrap_or(peer),
    )
}

fn is_trusted(addr: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&addr))
}

/// An IPv4 address written as IPv6 (`::ffff:1.2.3.4`) is that IPv4 address.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// The key the limits count this request's client under.
pub fn of(req: &Request, state: &crate::state::AppState) -> String {
    key(address(req, &state.trusted_proxies))
}

/// The key a client is counted under: its IPv4 address, or its IPv6 /64.
pub fn key(addr: Option<IpAddr>) -> String {
    match addr {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => ipnet::Ipv6Net::new(v6, 64)
            .map(|n| n.trunc())
            .map_or_else(|_| v6.to_string(), |n| n.to_string()),
        None => "unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_client_is_counted_by_its_64() {
        let a = key(Some("2001:db8:1:2::1".parse().expect("ip")));
        let b = key(Some(
            "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().expect("ip"),
        ));
        let c = key(Some("2001:db8:1:3::1".parse().expect("ip")));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_eq!(key(Some("192.0.2.7".parse().expect("ip"))), "192.0.2.7");
    }
}
