//! Requests: what a client asks, and their wire form.

use std::ops::RangeInclusive;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::{AnnounceAction, PROTOCOL_VERSION, RsAction};

/// The priorities an operator may set (`priority`); `null` resets.
pub const OPERATOR_PRIORITIES: RangeInclusive<u8> = 1..=254;

/// One request line, as a client sends it and the daemon parses it.
///
/// On the wire: `{"v":1,"command":"status"}`, `{"v":1,"command":"show","instance":"VI_1"}`,
/// `{"v":1,"command":"priority","instance":"VI_1","priority":50}` (`null` resets),
/// `{"v":1,"command":"maintenance","instance":"VI_1","on":true}`,
/// `{"v":1,"command":"reload"}`, `{"v":1,"command":"watch"}`,
/// `{"v":1,"command":"lvs"}` (`"service":"[10.0.0.1]:tcp:80"` for one),
/// `{"v":1,"command":"rs","service":"...","real_server":"[10.0.0.2]:80","action":"drain"}`
/// (`"action":"weight","weight":5`),
/// `{"v":1,"command":"announce","address":"10.0.0.1","action":"drain"}` (or `restore`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// One status line per instance.
    Status,
    /// Everything about one instance.
    Show {
        /// The instance's name.
        instance: String,
    },
    /// A temporary priority.
    Priority {
        /// The instance's name.
        instance: String,
        /// 1-254 ([`OPERATOR_PRIORITIES`]); `None` (`null`): back to the configured
        /// priority and trackers.
        priority: Option<u8>,
    },
    /// Maintenance on or off.
    Maintenance {
        /// The instance's name.
        instance: String,
        /// On: a Master resigns, and the instance stays Backup until off.
        on: bool,
    },
    /// Read the configuration again and apply the difference.
    Reload,
    /// Stream events until the client goes away.
    Watch,
    /// The load balancer's services (`None`: all), like `ipvsadm -Ln --stats`.
    Lvs {
        /// One service, as `lvs` names it (`[10.0.0.1]:tcp:80`), or its address and port.
        service: Option<String>,
    },
    /// An operator action on a real server, without a reload.
    RealServer {
        /// The service.
        service: String,
        /// The real server, `[IP]:PORT` or `IP:PORT`.
        real_server: String,
        /// What to do.
        action: RsAction,
    },
    /// Maintenance of a `bgp_announce` VIP: withdrawn until restored.
    Announce {
        /// The VIP.
        address: String,
        /// What to do.
        action: AnnounceAction,
    },
}

impl Request {
    /// The `command` of the request.
    pub fn command(&self) -> &'static str {
        match self {
            Request::Status => "status",
            Request::Show { .. } => "show",
            Request::Priority { .. } => "priority",
            Request::Maintenance { .. } => "maintenance",
            Request::Reload => "reload",
            Request::Watch => "watch",
            Request::Lvs { .. } => "lvs",
            Request::RealServer { .. } => "rs",
            Request::Announce { .. } => "announce",
        }
    }

    /// Parses one request line with the daemon's checks; the error is the sentence the
    /// daemon answers with.
    pub fn parse(line: &str) -> Result<Request, String> {
        Request::parse_unbounded(line).map_err(bounded)
    }

    fn parse_unbounded(line: &str) -> Result<Request, String> {
        // An object first: a derived struct would also take a JSON array.
        let object: serde_json::Map<String, Value> =
            serde_json::from_str(line).map_err(|e| match e.classify() {
                serde_json::error::Category::Data => format!("not a request object: {e}"),
                _ => format!("not JSON: {e}"),
            })?;
        let raw = RawRequest::deserialize(Value::Object(object))
            .map_err(|e| format!("not a request object: {e}"))?;
        Request::try_from(raw)
    }

    /// The request as one line of JSON, without the newline.
    pub fn to_line(&self) -> String {
        // Serializing strings, integers and booleans cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The wire form, for serializing.
#[derive(Serialize)]
struct WireRequest<'a> {
    v: u64,
    command: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    priority: Option<Option<u8>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    on: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    real_server: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    weight: Option<u32>,
}

impl Serialize for Request {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut wire = WireRequest {
            v: PROTOCOL_VERSION,
            command: self.command(),
            instance: None,
            priority: None,
            on: None,
            service: None,
            real_server: None,
            action: None,
            weight: None,
            address: None,
        };
        match self {
            Request::Status | Request::Reload | Request::Watch => {}
            Request::Show { instance } => wire.instance = Some(instance),
            Request::Priority { instance, priority } => {
                wire.instance = Some(instance);
                wire.priority = Some(*priority);
            }
            Request::Maintenance { instance, on } => {
                wire.instance = Some(instance);
                wire.on = Some(*on);
            }
            Request::Lvs { service } => wire.service = service.as_deref(),
            Request::RealServer {
                service,
                real_server,
                action,
            } => {
                wire.service = Some(service);
                wire.real_server = Some(real_server);
                wire.action = Some(action.name());
                if let RsAction::Weight { weight } = action {
                    wire.weight = Some(*weight);
                }
            }
            Request::Announce { address, action } => {
                wire.address = Some(address);
                wire.action = Some(action.name());
            }
        }
        wire.serialize(serializer)
    }
}

/// The wire form as received: every field optional and of any type, so that each mistake
/// gets its own sentence. Unknown fields are ignored.
#[derive(Deserialize)]
struct RawRequest {
    #[serde(default)]
    v: Option<Value>,
    #[serde(default)]
    command: Option<Value>,
    #[serde(default)]
    instance: Option<Value>,
    /// `None`: absent; `Some(Value::Null)`: `null`.
    #[serde(default, deserialize_with = "present")]
    priority: Option<Value>,
    #[serde(default)]
    on: Option<Value>,
    #[serde(default)]
    service: Option<Value>,
    #[serde(default)]
    real_server: Option<Value>,
    #[serde(default)]
    action: Option<Value>,
    #[serde(default)]
    weight: Option<Value>,
    #[serde(default)]
    address: Option<Value>,
}

/// A field that is present (even as `null`) is `Some`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

impl TryFrom<RawRequest> for Request {
    type Error = String;

    fn try_from(raw: RawRequest) -> Result<Request, String> {
        let version = raw.v.as_ref().and_then(Value::as_u64);
        if version != Some(PROTOCOL_VERSION) {
            return Err(format!(
                "unsupported protocol version {version:?}; this daemon speaks {PROTOCOL_VERSION}"
            ));
        }
        let command = raw
            .command
            .as_ref()
            .and_then(Value::as_str)
            .ok_or("missing \"command\"")?;
        let instance = || {
            raw.instance
                .as_ref()
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("{command} needs \"instance\""))
        };
        Ok(match command {
            "status" => Request::Status,
            "watch" => Request::Watch,
            "reload" => Request::Reload,
            "show" => Request::Show {
                instance: instance()?,
            },
            "priority" => {
                let priority = match &raw.priority {
                    None | Some(Value::Null) => None,
                    Some(p) => Some(
                        p.as_u64()
                            .and_then(|p| u8::try_from(p).ok())
                            .filter(|p| OPERATOR_PRIORITIES.contains(p))
                            .ok_or("priority must be 1-254, or null to reset")?,
                    ),
                };
                Request::Priority {
                    instance: instance()?,
                    priority,
                }
            }
            "maintenance" => {
                let on = raw
                    .on
                    .as_ref()
                    .and_then(Value::as_bool)
                    .ok_or("maintenance needs \"on\": true or false")?;
                Request::Maintenance {
                    instance: instance()?,
                    on,
                }
            }
            "lvs" => Request::Lvs {
                service: match &raw.service {
                    None | Some(Value::Null) => None,
                    Some(s) => Some(s.as_str().ok_or("\"service\" must be a string")?.into()),
                },
            },
            "rs" => real_server_request(&raw)?,
            "announce" => Request::Announce {
                address: raw
                    .address
                    .as_ref()
                    .and_then(Value::as_str)
                    .ok_or("announce needs \"address\"")?
                    .into(),
                action: match raw.action.as_ref().and_then(Value::as_str) {
                    Some("drain") => AnnounceAction::Drain,
                    Some("restore") => AnnounceAction::Restore,
                    _ => return Err("announce needs \"action\": drain or restore".into()),
                },
            },
            other => return Err(format!("unknown command {other:?}")),
        })
    }
}

/// The longest error sentence answered, in bytes. Errors quote the client's words with
/// escapes (a control character becomes six bytes), so a hostile line would otherwise get an
/// answer several times its size.
const MAX_ERROR_LEN: usize = 160;

fn bounded(mut error: String) -> String {
    if error.len() > MAX_ERROR_LEN {
        let mut end = MAX_ERROR_LEN;
        while !error.is_char_boundary(end) {
            end -= 1;
        }
        error.truncate(end);
        error.push_str("...");
    }
    error
}

/// `rs`: the service, the real server and the action, each checked.
fn real_server_request(raw: &RawRequest) -> Result<Request, String> {
    let text = |field: &Option<Value>, name: &str| {
        field
            .as_ref()
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("rs needs \"{name}\""))
    };
    let action = match raw.action.as_ref().and_then(Value::as_str) {
        Some("weight") => RsAction::Weight {
            weight: raw
                .weight
                .as_ref()
                .and_then(Value::as_u64)
                .and_then(|w| u32::try_from(w).ok())
                .ok_or("rs weight needs \"weight\": a whole number")?,
        },
        Some("drain") => RsAction::Drain,
        Some("disable") => RsAction::Disable,
        Some("enable") => RsAction::Enable,
        _ => return Err("rs needs \"action\": weight, drain, disable or enable".into()),
    };
    Ok(Request::RealServer {
        service: text(&raw.service, "service")?,
        real_server: text(&raw.real_server, "real_server")?,
        action,
    })
}

impl<'de> Deserialize<'de> for Request {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Request, D::Error> {
        let raw = RawRequest::deserialize(d)?;
        Request::try_from(raw).map_err(serde::de::Error::custom)
    }
}
