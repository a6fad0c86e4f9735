//! The Linux data plane of vrrpd: raw VRRP sockets, rtnetlink for addresses and links,
//! gratuitous ARP and unsolicited neighbour advertisements, virtual MAC interfaces.
