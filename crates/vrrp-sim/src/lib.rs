//! A deterministic discrete-event simulator of VRRP routers on a LAN.
