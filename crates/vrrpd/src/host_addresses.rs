//! The host's addresses, dumped once for a whole start-up or reload: a dump per instance
//! (the kernel dumps every address of the host each time) made start-up O(n²), 0.9 s at
//! 1,000 instances whose VIPs a killed run had left.

use std::collections::HashMap;

use anyhow::Result;
use vrrp_linux::netlink::{Address, Netlink};

/// Addresses per interface index, dumped on first use.
#[derive(Default)]
pub(crate) struct HostAddresses(Option<HashMap<u32, Vec<Address>>>);

impl HostAddresses {
    /// The addresses of interface `ifindex`.
    pub(crate) async fn of(&mut self, nl: &Netlink, ifindex: u32) -> Result<&[Address]> {
        if self.0.is_none() {
            let mut by_link: HashMap<u32, Vec<Address>> = HashMap::new();
            for (i, a) in nl.all_addresses().await? {
                by_link.entry(i).or_default().push(a);
            }
            self.0 = Some(by_link);
        }
        Ok(self
            .0
            .as_ref()
            .and_then(|m| m.get(&ifindex))
            .map_or(&[], Vec::as_slice))
    }

    /// Addresses changed (we removed one; the kernel may have removed its secondaries with
    /// it): dump again on next use.
    pub(crate) fn changed(&mut self) {
        self.0 = None;
    }
}
