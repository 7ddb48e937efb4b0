//! The testee protocol (`proto/dome/conformance/testee/v1/testee.proto`):
//! its generated messages and their JSON lines, in the proto3 JSON
//! mapping as prost-reflect implements it over the protocol's descriptor
//! set, so that a testee in any language that follows the mapping is
//! understood, and nothing here parses JSON by hand.

use std::sync::OnceLock;

use prost::Message;
use prost_reflect::{DescriptorPool, DeserializeOptions, DynamicMessage, MessageDescriptor, SerializeOptions};

pub use crate::generated::testee::*;

/// The version of the protocol this runner speaks, which a testee's
/// `Hello.protocolVersion` must state.
pub const PROTOCOL_VERSION: u32 = 1;

/// The protocol's package.
pub const PACKAGE: &str = "dome.conformance.testee.v1";

/// The protocol's descriptor set (with the gateway messages it imports),
/// as codegen wrote it.
pub const DESCRIPTOR_SET: &[u8] = include_bytes!("../../../../golden/dome.conformance.testee.v1.binpb");

/// The longest line the runner reads from a testee; a longer one is a
/// broken testee, not a reason to grow without bound.
pub const MAX_LINE: usize = 1 << 20;

fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    // The descriptor set is generated and drift-gated: it always decodes
    // (a test pins it), so a failure here is a broken build.
    POOL.get_or_init(|| DescriptorPool::decode(DESCRIPTOR_SET).expect("the testee descriptor set decodes"))
}

fn descriptor(name: &str) -> MessageDescriptor {
    pool()
        .get_message_by_name(&format!("{PACKAGE}.{name}"))
        .unwrap_or_else(|| panic!("the testee descriptor set has no `{PACKAGE}.{name}`"))
}

/// Encodes one message of the protocol as its JSON line (no newline).
pub fn to_json<M: Message>(message: &M, name: &str) -> String {
    let mut dynamic = DynamicMessage::new(descriptor(name));
    // The generated type and the descriptor come from the same proto, so
    // the bytes always merge.
    dynamic.merge(message.encode_to_vec().as_slice()).expect("a message decodes as its own descriptor");
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::new(&mut out);
    let options = SerializeOptions::new().skip_default_fields(true);
    dynamic.serialize_with_options(&mut serializer, &options).expect("serializing to memory cannot fail");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// Decodes one JSON line as the protocol message `name`; the error says
/// what is wrong with the line, for the report.
pub fn from_json<M: Message + Default>(line: &str, name: &str) -> Result<M, String> {
    let mut deserializer = serde_json::Deserializer::from_str(line);
    let options = DeserializeOptions::new().deny_unknown_fields(false);
    let dynamic = DynamicMessage::deserialize_with_options(descriptor(name), &mut deserializer, &options)
        .map_err(|e| format!("not a `{PACKAGE}.{name}` in the proto3 JSON mapping: {e}"))?;
    deserializer.end().map_err(|e| format!("trailing characters after the `{name}` object: {e}"))?;
    M::decode(dynamic.encode_to_vec().as_slice()).map_err(|e| format!("`{name}` does not re-encode: {e}"))
}

/// The JSON line of a command.
pub fn command_line(command: &Command) -> String {
    to_json(command, "Command")
}

/// Decodes a testee's greeting.
pub fn hello(line: &str) -> Result<Hello, String> {
    from_json(line, "Hello")
}

/// Decodes one reply of a testee.
pub fn reply(line: &str) -> Result<Reply, String> {
    from_json(line, "Reply")
}

/// Checks a greeting's protocol version.
pub fn check_version(hello: &Hello) -> Result<(), String> {
    if hello.protocol_version == PROTOCOL_VERSION {
        Ok(())
    } else {
        Err(format!(
            "the testee `{}` speaks testee protocol version {}, this runner speaks version {PROTOCOL_VERSION}",
            hello.name, hello.protocol_version
        ))
    }
}

/// Whether a reply ends its command.
pub fn is_final(reply: &Reply) -> bool {
    !matches!(reply.outcome, Some(reply::Outcome::Event(_)))
}

/// The gRPC code's canonical name, as the protocol's `ClientError.code`
/// carries it.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}
