//! The keepalived.conf configuration language, as vrrpd reads it.
