//! IPv4 subnets: parsing Docker's CIDR notation, overlap, address allocation. Pure
//! arithmetic, unit-tested without root.

use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use anyhow::{Result, bail};

/// An IPv4 network: its base address (host bits zero) and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subnet {
    base: Ipv4Addr,
    prefix: u8,
}

impl Subnet {
    /// The network of `addr/prefix` (host bits cleared).
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Result<Subnet> {
        if prefix > 32 {
            bail!("invalid prefix length {prefix}: at most 32");
        }
        Ok(Subnet {
            base: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        })
    }

    /// Parses `a.b.c.d/n` and also returns the address as written (for `--bip`, whose
    /// address is the gateway).
    pub fn parse_with_addr(s: &str) -> Result<(Subnet, Ipv4Addr)> {
        let Some((addr, prefix)) = s.split_once('/') else {
            bail!("invalid CIDR address: {s}");
        };
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| anyhow::anyhow!("invalid CIDR address: {s}"))?;
        let prefix: u8 = prefix
            .parse()
            .map_err(|_| anyhow::anyhow!("invalid CIDR address: {s}"))?;
        Ok((Subnet::new(addr, prefix)?, addr))
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `addr` is in it.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & mask(self.prefix) == u32::from(self.base)
    }

    /// Whether the two share any address.
    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.contains(other.base) || other.contains(self.base)
    }

    fn last(&self) -> u32 {
        u32::from(self.base) | !mask(self.prefix)
    }

    /// The first usable address (Docker's default gateway).
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.base).saturating_add(1))
    }

    /// Whether `addr` is a host address of it (not the network or broadcast address).
    pub fn is_host(&self, addr: Ipv4Addr) -> bool {
        let a = u32::from(addr);
        self.contains(addr)
            && (self.prefix >= 31 || (a != u32::from(self.base) && a != self.last()))
    }

    /// The lowest host address not in `taken`, or `None` when the subnet is full.
    pub fn allocate(&self, taken: &BTreeSet<Ipv4Addr>) -> Option<Ipv4Addr> {
        let (first, last) = if self.prefix >= 31 {
            (u32::from(self.base), self.last())
        } else {
            (u32::from(self.base) + 1, self.last() - 1)
        };
        (first..=last)
            .map(Ipv4Addr::from)
            .find(|a| !taken.contains(a))
    }

    /// The `size`-bit subnets of this one, in order (Docker's address pools).
    pub fn split(&self, size: u8) -> impl Iterator<Item = Subnet> + '_ {
        let count: u64 = if size < self.prefix || size > 32 {
            0
        } else {
            1u64 << (size - self.prefix)
        };
        let step: u64 = 1u64 << (32 - u32::from(size));
        (0..count).map(move |i| Subnet {
            base: Ipv4Addr::from((u64::from(u32::from(self.base)) + i * step) as u32),
            prefix: size,
        })
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

impl FromStr for Subnet {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Subnet> {
        let (net, addr) = Subnet::parse_with_addr(s)?;
        if net.base != addr {
            // Docker accepts and normalizes 10.1.2.3/24 for --subnet; so do we.
            tracing::debug!(given = s, network = %net, "subnet normalized");
        }
        Ok(net)
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

/// The MAC address Docker derives from an IPv4 address: 02:42 then the four bytes, so a
/// container keeps its MAC with its IP.
pub fn mac_for(ip: Ipv4Addr) -> String {
    let o = ip.octets();
    format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalizes() {
        let s: Subnet = "10.1.2.3/24".parse().unwrap();
        assert_eq!(s.to_string(), "10.1.2.0/24");
        let (net, addr) = Subnet::parse_with_addr("192.168.5.1/24").unwrap();
        assert_eq!(
            (net.to_string(), addr),
            ("192.168.5.0/24".into(), Ipv4Addr::new(192, 168, 5, 1))
        );
        assert!("10.1.2.0".parse::<Subnet>().is_err());
        assert!("10.1.2.0/33".parse::<Subnet>().is_err());
        assert!("x/24".parse::<Subnet>().is_err());
    }

    #[test]
    fn overlap_and_hosts() {
        let a: Subnet = "172.17.0.0/16".parse().unwrap();
        let b: Subnet = "172.17.3.0/24".parse().unwrap();
        let c: Subnet = "172.18.0.0/16".parse().unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c));
        assert!(b.is_host(Ipv4Addr::new(172, 17, 3, 1)));
        assert!(!b.is_host(Ipv4Addr::new(172, 17, 3, 0)));
        assert!(!b.is_host(Ipv4Addr::new(172, 17, 3, 255)));
        assert!(!b.is_host(Ipv4Addr::new(172, 17, 4, 1)));
    }

    #[test]
    fn allocates_lowest_free() {
        let s: Subnet = "10.0.0.0/30".parse().unwrap();
        let mut taken = BTreeSet::new();
        taken.insert(s.first_host());
        assert_eq!(s.allocate(&taken), Some(Ipv4Addr::new(10, 0, 0, 2)));
        taken.insert(Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(s.allocate(&taken), None);
    }

    #[test]
    fn splits_pools() {
        let pool: Subnet = "10.10.0.0/16".parse().unwrap();
        let subs: Vec<String> = pool.split(24).take(2).map(|s| s.to_string()).collect();
        assert_eq!(subs, ["10.10.0.0/24", "10.10.1.0/24"]);
        assert_eq!(pool.split(24).count(), 256);
        assert_eq!(pool.split(8).count(), 0);
        assert_eq!(mac_for(Ipv4Addr::new(172, 17, 0, 2)), "02:42:ac:11:00:02");
    }
}
