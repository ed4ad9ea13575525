//! The destination policy: which resolved addresses the fetcher may connect to (DESIGN
//! §Destinations).
//!
//! Checked on the *resolved* address of every connection, so a DNS answer (or a redirect) pointing
//! at a private network cannot pass. Refused by default: every non-public range. `allow_private`
//! opens the private ranges but never 0.0.0.0/8, `::`, multicast or broadcast, and never the cloud
//! metadata addresses unless an explicit CIDR contains them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::AllowPrivate;

/// Why an address is refused; `Display` gives the range's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 0.0.0.0/8 or `::`: these reach local listeners. Never opened.
    Unspecified,
    /// Multicast or limited broadcast. Never opened.
    Multicast,
    /// 169.254.169.254 or fd00:ec2::254. Opened only by an explicit CIDR.
    Metadata,
    /// A private or special-purpose range (loopback, RFC 1918, link-local, CGNAT, ULA, …).
    Private(&'static str),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Unspecified => f.write_str("unspecified address (reaches local listeners)"),
            Refusal::Multicast => f.write_str("multicast or broadcast address"),
            Refusal::Metadata => f.write_str("cloud metadata address"),
            Refusal::Private(r) => write!(f, "{r} address"),
        }
    }
}

/// Classifies `ip`: `None` for a public address, else the range it belongs to. IPv4 addresses
/// embedded in IPv6 (mapped, compatible, NAT64, 6to4) are classified as the IPv4 address.
pub fn classify(ip: IpAddr) -> Option<Refusal> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Refusal> {
    let o = ip.octets();
    if o[0] == 0 {
        return Some(Refusal::Unspecified);
    }
    if ip == Ipv4Addr::new(169, 254, 169, 254) {
        return Some(Refusal::Metadata);
    }
    if ip.is_multicast() || ip.is_broadcast() || o[0] >= 240 {
        return Some(Refusal::Multicast);
    }
    let r = match o {
        [127, ..] => "loopback",
        [10, ..] | [192, 168, ..] => "private (RFC 1918)",
        [172, b, ..] if (16..32).contains(&b) => "private (RFC 1918)",
        [169, 254, ..] => "link-local",
        [100, b, ..] if (64..128).contains(&b) => "shared (CGNAT)",
        [192, 0, 0, _] => "IETF protocol assignment",
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => "documentation",
        [198, b, ..] if b == 18 || b == 19 => "benchmarking",
        _ => return None,
    };
    Some(Refusal::Private(r))
}

fn classify_v6(ip: Ipv6Addr) -> Option<Refusal> {
    let s = ip.segments();
    if ip.is_unspecified() {
        return Some(Refusal::Unspecified);
    }
    if ip == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x254) {
        return Some(Refusal::Metadata);
    }
    if ip.is_loopback() {
        return Some(Refusal::Private("loopback"));
    }
    if s[0] & 0xff00 == 0xff00 {
        return Some(Refusal::Multicast);
    }
    // Embedded IPv4: mapped ::ffff:a.b.c.d, compatible ::a.b.c.d, NAT64 64:ff9b::/96 and
    // 64:ff9b:1::/48, 6to4 2002::/16.
    let v4 = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if s[..5] == [0; 5] && (s[5] == 0xffff || s[5] == 0) {
        return classify_v4(v4(s[6], s[7])).or(Some(Refusal::Private("IPv4-embedded")));
    }
    if s[0] == 0x64 && s[1] == 0xff9b && (s[2..6] == [0; 4] || s[2] == 1) {
        return classify_v4(v4(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return classify_v4(v4(s[1], s[2]));
    }
    if s[0] & 0xfe00 == 0xfc00 {
        return Some(Refusal::Private("unique local (ULA)"));
    }
    if s[0] & 0xffc0 == 0xfe80 {
        return Some(Refusal::Private("link-local"));
    }
    if s[0] & 0xffc0 == 0xfec0 {
        return Some(Refusal::Private("site-local"));
    }
    if s[0] == 0x2001 && s[1] == 0x0db8 {
        return Some(Refusal::Private("documentation"));
    }
    None
}

/// Decides whether the fetcher may connect to `ip` under `allow`. `Err` carries the reason.
pub fn check(ip: IpAddr, allow: &AllowPrivate) -> Result<(), Refusal> {
    let Some(refusal) = classify(ip) else {
        return Ok(());
    };
    if allow.cidrs.iter().any(|n| n.contains(&ip)) && refusal != Refusal::Unspecified {
        return Ok(());
    }
    match refusal {
        Refusal::Private(_) if allow.all => Ok(()),
        r => Err(r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> AllowPrivate {
        AllowPrivate { all: true, cidrs: vec![] }
    }

    macro_rules! dest_cases {
        ($($name:ident: $ip:expr, $allow:expr => $ok:expr,)*) => {$(
            #[test]
            fn $name() {
                let ip: IpAddr = $ip.parse().unwrap();
                assert_eq!(check(ip, &$allow).is_ok(), $ok, "{ip}");
            }
        )*};
    }

    dest_cases! {
        public_v4_allowed: "93.184.216.34", AllowPrivate::default() => true,
        public_v6_allowed: "2606:2800:220:1::1", AllowPrivate::default() => true,
        loopback_refused: "127.0.0.1", AllowPrivate::default() => false,
        loopback_opened: "127.0.0.2", all() => true,
        rfc1918_refused: "192.168.1.1", AllowPrivate::default() => false,
        rfc1918_172_refused: "172.20.0.1", AllowPrivate::default() => false,
        cgnat_refused: "100.100.0.1", AllowPrivate::default() => false,
        link_local_refused: "169.254.1.1", AllowPrivate::default() => false,
        benchmarking_refused: "198.18.0.1", AllowPrivate::default() => false,
        zero_refused_even_opened: "0.0.0.0", all() => false,
        zero_net_refused_even_opened: "0.1.2.3", all() => false,
        v6_unspecified_refused_even_opened: "::", all() => false,
        metadata_refused_even_opened: "169.254.169.254", all() => false,
        metadata_v6_refused_even_opened: "fd00:ec2::254", all() => false,
        metadata_opened_by_cidr: "169.254.169.254", AllowPrivate { all: false, cidrs: vec!["169.254.169.254/32".parse().unwrap()] } => true,
        multicast_refused: "224.0.0.1", all() => false,
        broadcast_refused: "255.255.255.255", all() => false,
        mapped_loopback_refused: "::ffff:127.0.0.1", AllowPrivate::default() => false,
        mapped_metadata_refused: "::ffff:169.254.169.254", all() => false,
        compatible_private_refused: "::10.0.0.1", AllowPrivate::default() => false,
        nat64_private_refused: "64:ff9b::192.168.0.1", AllowPrivate::default() => false,
        nat64_local_refused: "64:ff9b:1::a00:1", AllowPrivate::default() => false,
        sixtofour_private_refused: "2002:c0a8:0101::1", AllowPrivate::default() => false,
        ula_refused: "fd12:3456::1", AllowPrivate::default() => false,
        v6_link_local_refused: "fe80::1", AllowPrivate::default() => false,
        v6_loopback_opened: "::1", all() => true,
        cidr_opens_only_its_range: "10.1.2.3", AllowPrivate { all: false, cidrs: vec!["10.0.0.0/16".parse().unwrap()] } => false,
        cidr_opens_its_range: "10.0.2.3", AllowPrivate { all: false, cidrs: vec!["10.0.0.0/16".parse().unwrap()] } => true,
    }
}
