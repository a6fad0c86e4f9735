//! The host's addresses and links, each dumped once for a whole start-up or reload: a dump
//! per instance (the kernel dumps every address of the host each time) made start-up
//! O(n²), 0.9 s at 1,000 instances whose VIPs a killed run had left; a link request per
//! instance took a third of a 1,000-instance start-up.

use std::collections::HashMap;

use anyhow::Result;
use vrrp_linux::netlink::{Address, Link, Netlink};

/// Addresses per interface index and links by name, each dumped on first use.
#[derive(Default)]
pub(crate) struct Host {
    addresses: Option<HashMap<u32, Vec<Address>>>,
    links: Option<HashMap<String, Link>>,
}

impl Host {
    /// The addresses of interface `ifindex`.
    pub(crate) async fn of(&mut self, nl: &Netlink, ifindex: u32) -> Result<&[Address]> {
        if self.addresses.is_none() {
            let mut by_link: HashMap<u32, Vec<Address>> = HashMap::new();
            for (i, a) in nl.all_addresses().await? {
                by_link.entry(i).or_default().push(a);
            }
            self.addresses = Some(by_link);
        }
        Ok(self
            .addresses
            .as_ref()
            .and_then(|m| m.get(&ifindex))
            .map_or(&[], Vec::as_slice))
    }

    /// The link called `name`; one not in the dump (created since) is asked for.
    pub(crate) async fn link(&mut self, nl: &Netlink, name: &str) -> Result<Option<Link>> {
        if self.links.is_none() {
            let all = nl.links().await?;
            self.links = Some(all.into_iter().map(|l| (l.name.clone(), l)).collect());
        }
        match self.links.as_ref().and_then(|m| m.get(name)) {
            Some(link) => Ok(Some(link.clone())),
            None => Ok(nl.link_by_name(name).await?),
        }
    }

    /// Addresses changed (we removed one; the kernel may have removed its secondaries with
    /// it): dump again on next use.
    pub(crate) fn changed(&mut self) {
        self.addresses = None;
    }
}
