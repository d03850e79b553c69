//! The guard for fetches of addresses a person gives Orchard (knowledge-base pages and
//! sitemaps, model downloads): such a fetch must not become a way to reach this
//! machine or the network it sits in (server-side request forgery).
//!
//! Three checks, all made by [`HttpClient::fetcher`](crate::HttpClient::fetcher)
//! clients:
//!
//! 1. **Literal addresses** in the URL asked for, and in every redirect, are classified
//!    by [`AddressClass::of`] before anything is sent.
//! 2. **Names** are resolved by [`GuardResolver`] at connect time, after DNS, so a
//!    public name that resolves to `127.0.0.1` is refused too; only the addresses that
//!    pass are handed to the connector, so there is no second lookup an attacker's DNS
//!    server could answer differently (DNS rebinding).
//! 3. **Redirects** are followed by our own code, one request (and one ledger row) per
//!    hop, each hop checked like the first; only `http` and `https`, at most
//!    [`MAX_REDIRECTS`].

use std::error::Error as StdError;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Most redirects a guarded fetch follows before giving up.
pub const MAX_REDIRECTS: usize = 10;

/// Why an address is not fetched: it is not a public internet address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddressClass {
    /// `127.0.0.0/8`, `::1`: this machine.
    Loopback,
    /// `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`, and IPv6 site-local
    /// (`fec0::/10`, deprecated) and local-use NAT64 (`64:ff9b:1::/48`).
    Private,
    /// `169.254.0.0/16` (where cloud metadata services answer) and `fe80::/10`.
    LinkLocal,
    /// `0.0.0.0/8` and `::`, which reach this machine when connected to.
    Unspecified,
    /// `224.0.0.0/4` and `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `100.64.0.0/10`, the address space shared behind carrier-grade NAT.
    SharedNat,
    /// `fc00::/7`, IPv6 unique-local addresses (the IPv6 private networks).
    UniqueLocal,
    /// Ranges that are not on the public internet: `240.0.0.0/4`, `192.0.0.0/24`,
    /// benchmarking (`198.18.0.0/15`), documentation (`192.0.2.0/24`,
    /// `198.51.100.0/24`, `203.0.113.0/24`, `2001:db8::/32`) and discard (`100::/64`).
    Reserved,
}

impl AddressClass {
    /// The class of `ip`, or `None` for a public address. An IPv4 address written as
    /// IPv6 (mapped `::ffff:a.b.c.d`, compatible `::a.b.c.d`, translated
    /// `::ffff:0:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, 6to4 `2002:AABB:CCDD::`) is
    /// classified as the IPv4 address it carries.
    pub fn of(ip: IpAddr) -> Option<AddressClass> {
        match ip {
            IpAddr::V4(v4) => of_v4(v4),
            IpAddr::V6(v6) => of_v6(v6),
        }
    }

    /// The class in words, for messages: "a loopback address".
    pub fn describe(self) -> &'static str {
        match self {
            AddressClass::Loopback => "a loopback address (this machine)",
            AddressClass::Private => "a private network address",
            AddressClass::LinkLocal => {
                "a link-local address (where cloud metadata services answer)"
            }
            AddressClass::Unspecified => "an unspecified address (it reaches this machine)",
            AddressClass::Multicast => "a multicast address",
            AddressClass::Broadcast => "the broadcast address",
            AddressClass::SharedNat => "a carrier-grade NAT address (100.64.0.0/10)",
            AddressClass::UniqueLocal => "a unique-local IPv6 address (fc00::/7)",
            AddressClass::Reserved => "a reserved address, not on the public internet",
        }
    }
}

fn of_v4(ip: Ipv4Addr) -> Option<AddressClass> {
    let [a, b, c, _] = ip.octets();
    let class = if ip.is_broadcast() {
        AddressClass::Broadcast
    } else if a == 0 {
        AddressClass::Unspecified
    } else if a == 127 {
        AddressClass::Loopback
    } else if a == 10 || (a == 172 && (16..=31).contains(&b)) || (a == 192 && b == 168) {
        AddressClass::Private
    } else if a == 169 && b == 254 {
        AddressClass::LinkLocal
    } else if a == 100 && (64..=127).contains(&b) {
        AddressClass::SharedNat
    } else if (224..=239).contains(&a) {
        AddressClass::Multicast
    } else if a >= 240
        || (a == 192 && b == 0 && (c == 0 || c == 2))
        || (a == 198 && (b == 18 || b == 19))
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
    {
        AddressClass::Reserved
    } else {
        return None;
    };
    Some(class)
}

fn of_v6(ip: Ipv6Addr) -> Option<AddressClass> {
    if ip.is_unspecified() {
        return Some(AddressClass::Unspecified);
    }
    if ip.is_loopback() {
        return Some(AddressClass::Loopback);
    }
    if let Some(v4) = embedded_v4(ip) {
        return of_v4(v4);
    }
    let s = ip.segments();
    let class = if s[0] & 0xfe00 == 0xfc00 {
        AddressClass::UniqueLocal
    } else if s[0] & 0xffc0 == 0xfe80 {
        AddressClass::LinkLocal
    } else if s[0] & 0xffc0 == 0xfec0 || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) {
        AddressClass::Private
    } else if s[0] & 0xff00 == 0xff00 {
        AddressClass::Multicast
    } else if (s[0] == 0x2001 && s[1] == 0x0db8) || (s[0] == 0x100 && s[1..4] == [0, 0, 0]) {
        AddressClass::Reserved
    } else {
        return None;
    };
    Some(class)
}

/// The IPv4 address an IPv6 address carries, for the forms that route to it.
pub(crate) fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let v4 = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    match s {
        // ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible; `::` and `::1` are handled
        // before), ::ffff:0:a.b.c.d (translated), 64:ff9b::a.b.c.d (NAT64).
        [0, 0, 0, 0, 0, 0xffff, hi, lo]
        | [0, 0, 0, 0, 0, 0, hi, lo]
        | [0, 0, 0, 0, 0xffff, 0, hi, lo]
        | [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(v4(hi, lo)),
        // 2002:AABB:CCDD::/48 (6to4).
        [0x2002, hi, lo, ..] => Some(v4(hi, lo)),
        _ => None,
    }
}

/// What a guarded fetch may reach.
///
/// By default (`FetchPolicy::default()`), only public internet addresses: every
/// [`AddressClass`] is refused, in the URL asked for, in every redirect, and in what a
/// name resolves to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FetchPolicy {
    /// Fetch private and local addresses too. For the local studio, when the person
    /// asks for it (`knowledge.allow_local_hosts`): their own wiki on the LAN, a file server on
    /// this machine. Redirects are still limited to http and https and to
    /// [`MAX_REDIRECTS`] hops.
    pub allow_local_hosts: bool,
    /// Exact addresses (IP and port) that are fetched although they are private or
    /// local: ones an operator trusts, and in tests the test's own server (every test
    /// server listens on `127.0.0.1`, which is otherwise refused).
    ///
    /// An exemption applies where the URL (or a redirect) names the address literally,
    /// as `http://127.0.0.1:PORT/`. A host *name* that resolves to an exempt address is
    /// still refused: the resolver does not know which port will be used, and letting
    /// the IP through for every port would open the machine's other services.
    pub exempt: Vec<SocketAddr>,
}

impl FetchPolicy {
    /// A policy that also fetches private and local addresses.
    pub fn allow_local() -> Self {
        Self {
            allow_local_hosts: true,
            exempt: Vec::new(),
        }
    }

    /// Adds an exempt address (see [`FetchPolicy::exempt`]).
    pub fn exempting(mut self, addr: SocketAddr) -> Self {
        self.exempt.push(addr);
        self
    }

    /// Why the policy refuses to connect to `addr`, or `None` if it may be contacted.
    pub fn refuses(&self, addr: SocketAddr) -> Option<AddressClass> {
        if self.allow_local_hosts || self.exempt.contains(&addr) {
            return None;
        }
        AddressClass::of(addr.ip())
    }
}

/// A name whose every address was refused (returned by [`GuardResolver`] and found again
/// by the error classifier in reqwest's error chain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RefusedAddress {
    pub ip: IpAddr,
    pub class: AddressClass,
}

impl fmt::Display for RefusedAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is {}", self.ip, self.class.describe())
    }
}

impl StdError for RefusedAddress {}

/// Resolves names with the system resolver (as reqwest would) and keeps only the
/// addresses the policy allows; a name whose every address is refused fails with
/// [`RefusedAddress`].
pub(crate) struct GuardResolver {
    /// Resolve without filtering (the policy allows local hosts).
    pub allow_local: bool,
    /// Names resolved without filtering: the configured proxies, which the person
    /// chose and which are usually on the local network.
    pub trusted: Vec<String>,
}

impl GuardResolver {
    fn trusts(&self, host: &str) -> bool {
        self.allow_local || self.trusted.iter().any(|t| t.eq_ignore_ascii_case(host))
    }
}

/// Keeps the addresses of `addrs` the guard allows (all if `trusted`), or names the
/// first refused one when none is left.
pub(crate) fn admit(
    addrs: Vec<SocketAddr>,
    trusted: bool,
) -> Result<Vec<SocketAddr>, Option<RefusedAddress>> {
    if trusted {
        return Ok(addrs);
    }
    let mut refused = None;
    let mut kept = Vec::with_capacity(addrs.len());
    for a in addrs {
        match AddressClass::of(a.ip()) {
            None => kept.push(a),
            Some(class) => {
                refused.get_or_insert(RefusedAddress { ip: a.ip(), class });
            }
        }
    }
    if kept.is_empty() {
        Err(refused)
    } else {
        Ok(kept)
    }
}

impl Resolve for GuardResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let trusted = self.trusts(&host);
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            match admit(found, trusted) {
                Ok(kept) => Ok(Box::new(kept.into_iter()) as Addrs),
                Err(Some(refused)) => {
                    tracing::debug!(%host, ip = %refused.ip, "refused a name that resolves only to private or local addresses");
                    Err(Box::new(refused) as Box<dyn StdError + Send + Sync>)
                }
                Err(None) => Err(Box::new(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the name has no addresses",
                )) as Box<dyn StdError + Send + Sync>),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(s: &str) -> Option<AddressClass> {
        AddressClass::of(s.parse().unwrap())
    }

    #[test]
    fn ipv4_ranges_are_classified() {
        use AddressClass::*;
        for (ip, want) in [
            ("127.0.0.1", Loopback),
            ("127.255.255.254", Loopback),
            ("10.0.0.1", Private),
            ("10.255.255.255", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("192.168.1.1", Private),
            ("169.254.169.254", LinkLocal),
            ("169.254.0.1", LinkLocal),
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", Unspecified),
            ("224.0.0.1", Multicast),
            ("239.255.255.250", Multicast),
            ("255.255.255.255", Broadcast),
            ("100.64.0.1", SharedNat),
            ("100.127.255.255", SharedNat),
            ("240.0.0.1", Reserved),
            ("192.0.0.8", Reserved),
            ("192.0.2.1", Reserved),
            ("198.18.0.1", Reserved),
            ("198.51.100.7", Reserved),
            ("203.0.113.9", Reserved),
        ] {
            assert_eq!(class(ip), Some(want), "{ip}");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "169.253.0.1",
            "192.169.0.1",
            "93.184.215.14",
            "2606:4700::1111",
            "2001:4860:4860::8888",
            "2a00:1450:4001:80b::200e",
            // IPv4 carried in IPv6 is judged as the IPv4 address.
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert_eq!(class(ip), None, "{ip}");
        }
    }

    #[test]
    fn ipv6_ranges_are_classified() {
        use AddressClass::*;
        for (ip, want) in [
            ("::1", Loopback),
            ("::", Unspecified),
            ("fc00::1", UniqueLocal),
            ("fd12:3456:789a::1", UniqueLocal),
            ("fe80::1", LinkLocal),
            ("febf::1", LinkLocal),
            ("fec0::1", Private),
            ("ff02::1", Multicast),
            ("ff05::1:3", Multicast),
            ("2001:db8::1", Reserved),
            ("100::1", Reserved),
            ("64:ff9b:1::a00:1", Private),
        ] {
            assert_eq!(class(ip), Some(want), "{ip}");
        }
    }

    #[test]
    fn ipv4_written_as_ipv6_is_judged_as_the_ipv4_address() {
        use AddressClass::*;
        for (ip, want) in [
            // mapped, in both spellings
            ("::ffff:7f00:1", Loopback),
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:10.0.0.1", Private),
            ("::ffff:a9fe:a9fe", LinkLocal),
            ("::ffff:0.0.0.0", Unspecified),
            ("::ffff:100.64.0.1", SharedNat),
            // compatible (deprecated)
            ("::127.0.0.1", Loopback),
            ("::192.168.0.1", Private),
            // translated
            ("::ffff:0:127.0.0.1", Loopback),
            // NAT64 well-known prefix
            ("64:ff9b::127.0.0.1", Loopback),
            ("64:ff9b::a9fe:a9fe", LinkLocal),
            ("64:ff9b::c0a8:1", Private),
            // 6to4
            ("2002:7f00:1::", Loopback),
            ("2002:c0a8:101::1", Private),
        ] {
            assert_eq!(class(ip), Some(want), "{ip}");
        }
    }

    #[test]
    fn urls_spell_addresses_many_ways_and_all_are_caught() {
        // The URL parser normalises these forms to the address they mean; the guard
        // classifies the parsed host, so none slips through.
        for u in [
            "http://2130706433/",
            "http://0x7f.1/",
            "http://127.1/",
            "http://0177.0.0.1/",
            "http://[::ffff:127.0.0.1]/",
            "http://[0:0:0:0:0:ffff:7f00:1]/",
        ] {
            let url = url::Url::parse(u).unwrap();
            let ip = match url.host() {
                Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
                Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
                other => panic!("{u} parsed as {other:?}"),
            };
            assert_eq!(AddressClass::of(ip), Some(AddressClass::Loopback), "{u}");
        }
    }

    #[test]
    fn policies_allow_local_hosts_or_exact_exemptions() {
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let other_port: SocketAddr = "127.0.0.1:8081".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:8080".parse().unwrap();
        let public: SocketAddr = "8.8.8.8:443".parse().unwrap();
        let strict = FetchPolicy::default();
        assert_eq!(strict.refuses(local), Some(AddressClass::Loopback));
        assert_eq!(strict.refuses(public), None);
        let exempt = FetchPolicy::default().exempting(local);
        assert_eq!(exempt.refuses(local), None);
        assert_eq!(exempt.refuses(other_port), Some(AddressClass::Loopback));
        assert_eq!(exempt.refuses(mapped), Some(AddressClass::Loopback));
        assert_eq!(FetchPolicy::allow_local().refuses(other_port), None);
    }

    #[test]
    fn resolved_addresses_are_filtered_and_refused_only_when_none_is_left() {
        let a = |s: &str| -> SocketAddr { s.parse().unwrap() };
        let mixed = vec![a("127.0.0.1:0"), a("93.184.215.14:0"), a("[::1]:0")];
        assert_eq!(admit(mixed.clone(), false), Ok(vec![a("93.184.215.14:0")]));
        assert_eq!(admit(mixed.clone(), true), Ok(mixed));
        let local = vec![a("[::1]:0"), a("127.0.0.1:0")];
        assert_eq!(
            admit(local, false),
            Err(Some(RefusedAddress {
                ip: "::1".parse().unwrap(),
                class: AddressClass::Loopback
            }))
        );
        assert_eq!(admit(Vec::new(), false), Err(None));
    }
}
