//! The gRPC status codes, as this SDK reports them: its own type, so that
//! matching on a failure needs no transport crate.

use std::fmt;

/// A gRPC status code (the numbering of `google.rpc.Code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Code {
    /// `OK` (0): not an error.
    Ok,
    /// `CANCELLED` (1): the caller cancelled the call.
    Cancelled,
    /// `UNKNOWN` (2).
    Unknown,
    /// `INVALID_ARGUMENT` (3).
    InvalidArgument,
    /// `DEADLINE_EXCEEDED` (4).
    DeadlineExceeded,
    /// `NOT_FOUND` (5).
    NotFound,
    /// `ALREADY_EXISTS` (6).
    AlreadyExists,
    /// `PERMISSION_DENIED` (7).
    PermissionDenied,
    /// `RESOURCE_EXHAUSTED` (8).
    ResourceExhausted,
    /// `FAILED_PRECONDITION` (9).
    FailedPrecondition,
    /// `ABORTED` (10).
    Aborted,
    /// `OUT_OF_RANGE` (11).
    OutOfRange,
    /// `UNIMPLEMENTED` (12).
    Unimplemented,
    /// `INTERNAL` (13).
    Internal,
    /// `UNAVAILABLE` (14).
    Unavailable,
    /// `DATA_LOSS` (15).
    DataLoss,
    /// `UNAUTHENTICATED` (16).
    Unauthenticated,
}

const ALL: [(Code, &str); 17] = [
    (Code::Ok, "OK"),
    (Code::Cancelled, "CANCELLED"),
    (Code::Unknown, "UNKNOWN"),
    (Code::InvalidArgument, "INVALID_ARGUMENT"),
    (Code::DeadlineExceeded, "DEADLINE_EXCEEDED"),
    (Code::NotFound, "NOT_FOUND"),
    (Code::AlreadyExists, "ALREADY_EXISTS"),
    (Code::PermissionDenied, "PERMISSION_DENIED"),
    (Code::ResourceExhausted, "RESOURCE_EXHAUSTED"),
    (Code::FailedPrecondition, "FAILED_PRECONDITION"),
    (Code::Aborted, "ABORTED"),
    (Code::OutOfRange, "OUT_OF_RANGE"),
    (Code::Unimplemented, "UNIMPLEMENTED"),
    (Code::Internal, "INTERNAL"),
    (Code::Unavailable, "UNAVAILABLE"),
    (Code::DataLoss, "DATA_LOSS"),
    (Code::Unauthenticated, "UNAUTHENTICATED"),
];

impl Code {
    /// The code numbered `number`; a number outside 0..=16 is `UNKNOWN`, as
    /// gRPC reads it.
    pub fn from_i32(number: i32) -> Code {
        usize::try_from(number).ok().and_then(|i| ALL.get(i)).map_or(Code::Unknown, |(code, _)| *code)
    }

    /// The code's number.
    pub fn as_i32(self) -> i32 {
        ALL.iter().position(|(code, _)| *code == self).map_or(2, |i| i as i32)
    }

    /// The code's name, such as `NOT_FOUND`.
    pub fn as_str(self) -> &'static str {
        ALL.iter().find(|(code, _)| *code == self).map_or("UNKNOWN", |(_, name)| name)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Code {
    /// The code of a status received through the transport.
    pub(crate) fn of(code: tonic::Code) -> Code {
        Code::from_i32(code as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `InvalidArgument` -> `INVALID_ARGUMENT`.
    fn screaming(camel: &str) -> String {
        let mut out = String::new();
        for (i, ch) in camel.chars().enumerate() {
            if ch.is_ascii_uppercase() && i > 0 {
                out.push('_');
            }
            out.push(ch.to_ascii_uppercase());
        }
        out
    }

    #[test]
    fn numbers_and_names_follow_grpc() {
        for number in 0..=16 {
            let code = Code::from_i32(number);
            assert_eq!(code.as_i32(), number);
            assert_eq!(Code::of(tonic::Code::from(number)), code);
            assert_eq!(code.to_string(), screaming(&format!("{:?}", tonic::Code::from(number))));
        }
        for outside in [-1, 17, i32::MAX, i32::MIN] {
            assert_eq!(Code::from_i32(outside), Code::Unknown);
        }
    }
}
