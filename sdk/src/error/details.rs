//! The `grpc-status-details-bin` trailer: a `google.rpc.Status` whose
//! details the SDK reads (`ErrorInfo`, `BadRequest`, `RetryInfo`), decoded
//! with prost messages of their own, field for field as
//! `google/rpc/status.proto` and `google/rpc/error_details.proto` number
//! them. Other details are skipped, as a client of the rich error model
//! does with what it does not know.

use std::collections::HashMap;
use std::time::Duration;

use prost::Message as _;

/// `google.rpc.Status`.
#[derive(Clone, PartialEq, prost::Message)]
struct Status {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<Any>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
struct Any {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
struct ProtoDuration {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

/// `google.rpc.ErrorInfo`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ErrorInfo {
    #[prost(string, tag = "1")]
    pub(crate) reason: String,
    #[prost(string, tag = "2")]
    pub(crate) domain: String,
    #[prost(map = "string, string", tag = "3")]
    pub(crate) metadata: HashMap<String, String>,
}

/// `google.rpc.BadRequest`.
#[derive(Clone, PartialEq, prost::Message)]
struct BadRequest {
    #[prost(message, repeated, tag = "1")]
    field_violations: Vec<FieldViolation>,
}

/// `google.rpc.BadRequest.FieldViolation` (its `reason` and
/// `localized_message` are not read).
#[derive(Clone, PartialEq, prost::Message)]
struct FieldViolation {
    #[prost(string, tag = "1")]
    field: String,
    #[prost(string, tag = "2")]
    description: String,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<ProtoDuration>,
}

const ERROR_INFO: &str = "type.googleapis.com/google.rpc.ErrorInfo";
const BAD_REQUEST: &str = "type.googleapis.com/google.rpc.BadRequest";
const RETRY_INFO: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// What the SDK reads from a status's details.
#[derive(Debug, Default)]
pub(crate) struct Details {
    pub(crate) error_info: Option<ErrorInfo>,
    /// `(field, description)` of each violation.
    pub(crate) violations: Option<Vec<(String, String)>>,
    pub(crate) retry_delay: Option<Duration>,
}

/// Decodes the details trailer (empty when the status has none). A
/// detail of a type read here that does not decode fails the whole, as
/// does a trailer that is not a `google.rpc.Status`; of a type given twice,
/// the last counts.
pub(crate) fn decode(trailer: &[u8]) -> Result<Details, prost::DecodeError> {
    let status = Status::decode(trailer)?;
    let mut details = Details::default();
    for any in &status.details {
        match any.type_url.as_str() {
            ERROR_INFO => details.error_info = Some(ErrorInfo::decode(any.value.as_slice())?),
            BAD_REQUEST => {
                let bad_request = BadRequest::decode(any.value.as_slice())?;
                details.violations =
                    Some(bad_request.field_violations.into_iter().map(|v| (v.field, v.description)).collect());
            }
            RETRY_INFO => {
                let retry = RetryInfo::decode(any.value.as_slice())?;
                // A negative delay is no delay; one beyond 584 years is
                // as good as forever.
                details.retry_delay = retry.retry_delay.map(|d| {
                    let nanos = i128::from(d.seconds) * 1_000_000_000 + i128::from(d.nanos);
                    Duration::from_nanos(u64::try_from(nanos.max(0)).unwrap_or(u64::MAX))
                });
            }
            _ => {}
        }
    }
    Ok(details)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any(type_url: &str, message: &impl prost::Message) -> Any {
        Any { type_url: type_url.into(), value: message.encode_to_vec() }
    }

    #[test]
    fn unknown_details_are_skipped_and_a_negative_delay_is_none_to_wait() {
        let info = ErrorInfo { reason: "QUEUE_FULL".into(), domain: "d".into(), metadata: HashMap::new() };
        let status = Status {
            code: 8,
            message: "full".into(),
            details: vec![
                any("type.googleapis.com/google.rpc.DebugInfo", &info),
                any(ERROR_INFO, &info),
                any(RETRY_INFO, &RetryInfo { retry_delay: Some(ProtoDuration { seconds: -1, nanos: 0 }) }),
            ],
        };
        let details = decode(&status.encode_to_vec()).expect("decodes");
        assert_eq!(details.error_info, Some(info));
        assert_eq!(details.retry_delay, Some(Duration::ZERO));
        assert_eq!(details.violations, None);
        assert!(decode(&[]).expect("an empty trailer is no details").error_info.is_none());
    }

    #[test]
    fn a_retry_delay_is_read_to_the_nanosecond() {
        for (seconds, nanos, expected) in [
            (2, 500_000_000, Duration::from_millis(2500)),
            (0, 1, Duration::from_nanos(1)),
            (1, -250_000_000, Duration::from_millis(750)),
            (i64::MAX, 0, Duration::from_nanos(u64::MAX)),
            (0, -1, Duration::ZERO),
        ] {
            let retry = RetryInfo { retry_delay: Some(ProtoDuration { seconds, nanos }) };
            let status = Status { code: 8, message: "full".into(), details: vec![any(RETRY_INFO, &retry)] };
            assert_eq!(decode(&status.encode_to_vec()).unwrap().retry_delay, Some(expected), "{seconds}s {nanos}ns");
        }
    }

    #[test]
    fn a_known_detail_that_does_not_decode_fails_the_whole() {
        let broken = Any { type_url: BAD_REQUEST.into(), value: vec![0x0a, 0x05, 0x01] };
        let status = Status { code: 3, message: "bad".into(), details: vec![broken] };
        assert!(decode(&status.encode_to_vec()).is_err());
        assert!(decode(&[0xff, 0x01]).is_err(), "not a google.rpc.Status");
    }
}
