//! Answers: the envelope of every answer line, and the typed `result` of each request.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::{
    LvsRealServer, LvsStatus, PROTOCOL_VERSION, ReloadSummary, Request, Show, StatusLine,
    StatusList,
};

/// One answer line: `{"v":1,"ok":true,"result":RESULT}` or
/// `{"v":1,"ok":false,"error":"a sentence"}`.
///
/// `T` is the result: [`Reply`] where the daemon answers, [`serde_json::Value`] where a
/// client wants the result as it came, or one of the documents.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer<T> {
    /// `ok: true` with the result.
    Ok(T),
    /// `ok: false` with the error, a sentence.
    Error(String),
}

impl<T> Answer<T> {
    /// The result, or the daemon's error.
    pub fn into_result(self) -> Result<T, String> {
        match self {
            Answer::Ok(t) => Ok(t),
            Answer::Error(e) => Err(e),
        }
    }
}

impl<T> From<Result<T, String>> for Answer<T> {
    fn from(result: Result<T, String>) -> Answer<T> {
        match result {
            Ok(t) => Answer::Ok(t),
            Err(e) => Answer::Error(e),
        }
    }
}

impl<T: Serialize> Answer<T> {
    /// The answer as one line of JSON, with its newline.
    pub fn to_line(&self) -> String {
        match serde_json::to_string(self) {
            Ok(line) => line + "\n",
            // Only a map with non-string keys could fail; the documents have none.
            Err(e) => Answer::<()>::Error(format!("cannot encode the answer: {e}")).to_line(),
        }
    }
}

#[derive(Serialize)]
struct WireAnswerOut<'a, T> {
    /// [`PROTOCOL_VERSION`](crate::PROTOCOL_VERSION).
    v: u64,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'a T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

impl<T: Serialize> Serialize for Answer<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let wire = match self {
            Answer::Ok(result) => WireAnswerOut {
                v: PROTOCOL_VERSION,
                ok: true,
                result: Some(result),
                error: None,
            },
            Answer::Error(error) => WireAnswerOut {
                v: PROTOCOL_VERSION,
                ok: false,
                result: None,
                error: Some(error),
            },
        };
        wire.serialize(serializer)
    }
}

#[derive(Deserialize)]
struct WireAnswerIn {
    #[serde(default)]
    ok: bool,
    #[serde(default)]
    result: Value,
    #[serde(default)]
    error: Option<String>,
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Answer<T> {
    /// An answer without `"ok": true` is an error (`"unknown error"` without `error`); a
    /// missing `result` reads as `null`.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Answer<T>, D::Error> {
        let wire = WireAnswerIn::deserialize(d)?;
        if wire.ok {
            T::deserialize(wire.result)
                .map(Answer::Ok)
                .map_err(serde::de::Error::custom)
        } else {
            Ok(Answer::Error(
                wire.error.unwrap_or_else(|| "unknown error".into()),
            ))
        }
    }
}

/// The `result` of each request, as the daemon answers it.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `status`: `{"instances":[STATUS, ...]}`.
    Status(StatusList),
    /// `show`: the instance's `SHOW` document.
    Show(Box<Show>),
    /// `priority` and `maintenance`: the instance's status line after the change.
    Instance(StatusLine),
    /// `reload`: the summary, as a sentence.
    Reloaded(ReloadSummary),
    /// `watch`: `"watching"`, then the events.
    Watching,
    /// `lvs`: the services.
    Lvs(LvsStatus),
    /// `rs`: the real server after the action.
    RealServer(Box<LvsRealServer>),
    /// `announce`: the VIP after the action.
    Announce(crate::BgpAnnouncement),
}

/// The result of `watch` before the events.
const WATCHING: &str = "watching";

impl Serialize for Reply {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Reply::Status(s) => s.serialize(serializer),
            Reply::Show(s) => s.serialize(serializer),
            Reply::Instance(s) => s.serialize(serializer),
            Reply::Reloaded(s) => s.serialize(serializer),
            Reply::Watching => serializer.serialize_str(WATCHING),
            Reply::Lvs(s) => s.serialize(serializer),
            Reply::RealServer(s) => s.serialize(serializer),
            Reply::Announce(s) => s.serialize(serializer),
        }
    }
}

impl Reply {
    /// Reads the `result` of an answer to `request` (the result alone does not say which
    /// request it answers).
    pub fn decode(request: &Request, result: Value) -> Result<Reply, serde_json::Error> {
        Ok(match request {
            Request::Status => Reply::Status(serde_json::from_value(result)?),
            Request::Show { .. } => Reply::Show(serde_json::from_value(result)?),
            Request::Priority { .. } | Request::Maintenance { .. } => {
                Reply::Instance(serde_json::from_value(result)?)
            }
            Request::Reload => Reply::Reloaded(serde_json::from_value(result)?),
            Request::Lvs { .. } => Reply::Lvs(serde_json::from_value(result)?),
            Request::RealServer { .. } => Reply::RealServer(serde_json::from_value(result)?),
            Request::Announce { .. } => Reply::Announce(serde_json::from_value(result)?),
            Request::Watch => match result {
                Value::String(s) if s == WATCHING => Reply::Watching,
                other => {
                    return Err(serde::de::Error::custom(format!(
                        "expected \"{WATCHING}\", not {other}"
                    )));
                }
            },
        })
    }
}
