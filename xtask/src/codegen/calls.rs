//! The SDK's per-RPC plumbing, generated from the service so that a new
//! RPC or field reaches the SDK without a hand edit:
//!
//! - `pb.rs`: the curated public `pb` module, every message and enum of the
//!   service surface (the option types only codegen reads stay private);
//! - `calls.rs`: one request builder per RPC (`client.get_job_status(id)
//!   .timeout(t).send()`), whose constructor takes the request fields the
//!   proto marks `Required` and whose setters set the others; one reply
//!   type per response with several fields, its message fields unwrapped
//!   (the contract always sets them: an unset one is `Error::Protocol`);
//!   `Display` for every enum; `SystemTime` readers for every timestamp.
//!
//! What the contract freezes as behaviour (the idempotency key, version
//! negotiation, retries, resuming streams) stays hand-written in the SDK;
//! the generated code calls into it.

use std::fmt::Write as _;

use anyhow::{Result, bail};
use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor};

use super::rust::format_rust;
use crate::descriptors::locate;
use crate::facts::PACKAGE;

/// The proto file whose types configure codegen; they are public only
/// when the service surface reaches them.
const OPTIONS_FILE: &str = "dome/gateway/v1/options.proto";

/// Request fields every call sets through its options, never a setter.
const OPTION_FIELDS: &[&str] = &["correlation_id"];

/// `GetJobStatus` -> `get_job_status`.
pub fn snake(pascal: &str) -> String {
    let mut out = String::new();
    for (i, ch) in pascal.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

fn doc(text: &str) -> String {
    text.lines().map(|l| if l.is_empty() { "///\n".to_string() } else { format!("/// {l}\n") }).collect()
}

fn comment(field: &FieldDescriptor) -> String {
    locate(field.parent_file().file_descriptor_proto(), field.path()).leading_comments
}

/// Whether the proto marks a request field as required (its comment
/// starts with `Required`).
fn is_required(field: &FieldDescriptor) -> bool {
    comment(field).starts_with("Required")
}

/// The Rust path of a message or enum of the package.
fn pb_path(name: &str) -> String {
    format!("crate::pb::{name}")
}

/// The Rust type of a singular field's value, when the builder can take
/// it (`impl Into<String>` for strings).
fn setter_type(field: &FieldDescriptor) -> Result<(String, &'static str)> {
    Ok(match field.kind() {
        Kind::String => ("impl Into<String>".into(), ".into()"),
        Kind::Bool => ("bool".into(), ""),
        Kind::Uint64 | Kind::Fixed64 => ("u64".into(), ""),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => ("i64".into(), ""),
        Kind::Uint32 | Kind::Fixed32 => ("u32".into(), ""),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => ("i32".into(), ""),
        Kind::Double => ("f64".into(), ""),
        Kind::Float => ("f32".into(), ""),
        Kind::Bytes => ("impl Into<Vec<u8>>".into(), ".into()"),
        Kind::Enum(e) => (pb_path(e.name()), " as i32"),
        Kind::Message(m) if m.package_name() == PACKAGE => (pb_path(m.name()), ""),
        other => bail!("field `{}` has a type the request builders do not take: {other:?}", field.full_name()),
    })
}

/// The Rust type prost gives a field of a response (message fields
/// unwrapped).
fn reply_type(field: &FieldDescriptor) -> Result<String> {
    let base = match field.kind() {
        Kind::String => "String".to_string(),
        Kind::Bool => "bool".into(),
        Kind::Uint64 | Kind::Fixed64 => "u64".into(),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => "i64".into(),
        Kind::Uint32 | Kind::Fixed32 => "u32".into(),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 | Kind::Enum(_) => "i32".into(),
        Kind::Double => "f64".into(),
        Kind::Float => "f32".into(),
        Kind::Bytes => "Vec<u8>".into(),
        Kind::Message(m) if m.package_name() == PACKAGE => pb_path(m.name()),
        other => bail!("response field `{}` has a type the SDK does not unwrap: {other:?}", field.full_name()),
    };
    if field.is_map() {
        bail!("response field `{}` is a map, which the reply types do not carry yet", field.full_name());
    }
    Ok(if field.is_list() { format!("Vec<{base}>") } else { base })
}

fn is_unwrapped(field: &FieldDescriptor) -> bool {
    matches!(field.kind(), Kind::Message(_)) && !field.is_list() && field.containing_oneof().is_none()
}

/// The fields of a response besides the correlation id.
fn payload(response: &MessageDescriptor) -> Vec<FieldDescriptor> {
    response.fields().filter(|f| !OPTION_FIELDS.contains(&f.name())).collect()
}

/// `SkillExecuteResponse` -> `SkillExecuteReply`.
fn reply_name(response: &MessageDescriptor) -> String {
    format!("{}Reply", response.name().trim_end_matches("Response"))
}

/// What `send()` of an RPC returns: the one payload field of a response
/// that has only one, else the reply type.
fn output(response: &MessageDescriptor) -> Result<(String, String)> {
    let fields = payload(response);
    if let [only] = fields.as_slice() {
        let name = only.name();
        let ty = reply_type(only)?;
        let convert = if is_unwrapped(only) {
            format!(
                "response.{name}.ok_or_else(|| crate::Error::Protocol(\"`{}.{name}` is unset\".into()))",
                response.name()
            )
        } else {
            format!("Ok(response.{name})")
        };
        return Ok((ty, convert));
    }
    Ok((reply_name(response), format!("{}::from_response(response)", reply_name(response))))
}

/// Renders `pb.rs`.
pub fn generate_pb(pool: &DescriptorPool) -> Result<String> {
    let service = pool.services().find(|s| s.package_name() == PACKAGE);
    let Some(service) = service else { bail!("no service in package `{PACKAGE}`") };
    // What the service surface reaches, from its requests and responses.
    let mut reached = std::collections::BTreeSet::new();
    let mut queue: Vec<MessageDescriptor> = service.methods().flat_map(|m| [m.input(), m.output()]).collect();
    while let Some(m) = queue.pop() {
        if !reached.insert(m.full_name().to_string()) {
            continue;
        }
        for field in m.fields() {
            match field.kind() {
                Kind::Message(child) => queue.push(child),
                Kind::Enum(e) => {
                    reached.insert(e.full_name().to_string());
                }
                _ => {}
            }
        }
    }
    let public = |file: &str, full_name: &str| file != OPTIONS_FILE || reached.contains(full_name);
    let mut items = Vec::new();
    for m in pool.all_messages().filter(|m| m.package_name() == PACKAGE && m.parent_message().is_none()) {
        if !public(m.parent_file().name(), m.full_name()) {
            continue;
        }
        items.push(m.name().to_string());
        // prost puts a message's oneofs and nested types in a module.
        let nested = m.oneofs().any(|o| !o.is_synthetic())
            || m.child_messages().any(|c| !c.is_map_entry())
            || m.child_enums().next().is_some();
        if nested {
            items.push(snake(m.name()));
        }
    }
    for e in pool.all_enums().filter(|e| e.package_name() == PACKAGE && e.parent_message().is_none()) {
        if public(e.parent_file().name(), e.full_name()) {
            items.push(e.name().to_string());
        }
    }
    items.sort();
    let mut s = String::new();
    writeln!(s, "pub use crate::generated::dome::gateway::v1::{{{}}};", items.join(", "))?;
    // The well-known types are generated with the contract (the SDK has no
    // prost-types), so they are the contract's messages too.
    for name in reached.iter().filter_map(|n| n.strip_prefix("google.protobuf.")) {
        writeln!(
            s,
            "/// The well-known type `google.protobuf.{name}`, generated with the contract's messages.\npub use crate::generated::google::protobuf::{name};"
        )?;
    }
    let module = format!("{}_client", snake(service.name()));
    writeln!(
        s,
        "/// The generated tonic client, for calls made by hand (it takes and returns `tonic` types).\npub use crate::generated::dome::gateway::v1::{module};"
    )?;
    writeln!(
        s,
        "/// The generated tonic server trait, for implementers of the service.\n#[cfg(feature = \"server\")]\npub use crate::generated::dome::gateway::v1::{}_server;",
        snake(service.name())
    )?;
    format_rust(&s)
}

/// Renders `calls.rs`.
pub fn generate_calls(pool: &DescriptorPool) -> Result<String> {
    let Some(service) = pool.services().find(|s| s.package_name() == PACKAGE) else {
        bail!("no service in package `{PACKAGE}`")
    };
    let mut s = String::new();
    let mut client_methods = String::new();
    let mut replies = std::collections::BTreeSet::new();
    for method in service.methods() {
        let rpc = method.name();
        let request = method.input();
        let response = method.output();
        let rpc_doc = locate(method.parent_file().file_descriptor_proto(), method.path()).leading_comments;
        let required: Vec<_> =
            request.fields().filter(|f| is_required(f) && !OPTION_FIELDS.contains(&f.name())).collect();
        let optional: Vec<_> =
            request.fields().filter(|f| !is_required(f) && !OPTION_FIELDS.contains(&f.name())).collect();

        // The builder.
        writeln!(
            s,
            "{}#[must_use = \"a request does nothing until it is sent\"]\n#[derive(Debug, Clone)]\npub struct {rpc}<'a> {{ pub(crate) client: &'a crate::Client, pub(crate) request: {}, pub(crate) options: crate::client::CallOptions }}",
            doc(&format!(
                "A `{rpc}` call, made by [`crate::Client::{}`]: set what it needs, then `send()`.\n\n{rpc_doc}",
                snake(rpc)
            )),
            pb_path(request.name()),
        )?;
        writeln!(s, "impl<'a> {rpc}<'a> {{")?;
        for field in &optional {
            let name = field.name();
            let text = comment(field);
            if field.is_map() {
                let Kind::Message(entry) = field.kind() else { bail!("map `{}` without an entry", field.full_name()) };
                let (key_ty, key_conv) = setter_type(&entry.map_entry_key_field())?;
                let (value_ty, value_conv) = setter_type(&entry.map_entry_value_field())?;
                let singular = name.strip_suffix('s').unwrap_or(name);
                writeln!(
                    s,
                    "{}pub fn {singular}(mut self, key: {key_ty}, value: {value_ty}) -> Self {{ self.request.{name}.insert(key{key_conv}, value{value_conv}); self }}",
                    doc(&format!("Adds one entry to `{name}`.\n\n{text}"))
                )?;
                writeln!(
                    s,
                    "{}pub fn {name}<K: Into<String>, V: Into<String>>(mut self, entries: impl IntoIterator<Item = (K, V)>) -> Self {{ self.request.{name}.extend(entries.into_iter().map(|(k, v)| (k.into(), v.into()))); self }}",
                    doc(&format!("Adds every entry to `{name}`.\n\n{text}"))
                )?;
            } else if field.is_list() {
                let (ty, conv) = setter_type(field)?;
                writeln!(
                    s,
                    "{}pub fn {name}(mut self, values: impl IntoIterator<Item = {ty}>) -> Self {{ self.request.{name}.extend(values.into_iter().map(|v| v{conv})); self }}",
                    doc(&format!("Adds to `{name}`.\n\n{text}"))
                )?;
            } else {
                let (ty, conv) = setter_type(field)?;
                let wrap = if matches!(field.kind(), Kind::Message(_)) {
                    format!("Some(value{conv})")
                } else {
                    format!("value{conv}")
                };
                writeln!(
                    s,
                    "{}pub fn {name}(mut self, value: {ty}) -> Self {{ self.request.{name} = {wrap}; self }}",
                    doc(&text)
                )?;
            }
        }
        writeln!(
            s,
            "/// Bounds each attempt of this call (sent as `grpc-timeout`), instead of the client's request timeout.\n\
             pub fn timeout(mut self, timeout: std::time::Duration) -> Self {{ self.options.timeout = Some(timeout); self }}\n\
             /// Retries this call with `policy` instead of the client's.\n\
             pub fn retry_policy(mut self, policy: crate::RetryPolicy) -> Self {{ self.options.retry = Some(policy); self }}\n\
             /// Sends this call with correlation id `id` instead of the client's.\n\
             pub fn correlation_id(mut self, id: impl Into<String>) -> Self {{ self.request.correlation_id = id.into(); self }}\n\
             /// The request as it will be sent (before the client fills in what it sets itself).\n\
             pub fn request(&self) -> &{} {{ &self.request }}",
            pb_path(request.name())
        )?;
        // A stream's `send()` is hand-written: how it resumes is behaviour
        // the contract freezes, not plumbing.
        if !method.is_server_streaming() {
            let (ty, convert) = output(&response)?;
            writeln!(
                s,
                "/// Sends the call, retrying as the contract and the retry policy allow.\n\
                 pub async fn send(self) -> Result<{ty}, crate::Error> {{\n\
                 let response = self.client.unary::<_, {}>(self.request, self.options, \"/{}/{rpc}\").await?;\n\
                 {convert}\n}}",
                pb_path(response.name()),
                service.full_name()
            )?;
            if payload(&response).len() != 1 {
                replies.insert(response.full_name().to_string());
            }
        }
        writeln!(s, "}}")?;
        writeln!(
            s,
            "impl crate::client::Correlated for {} {{ fn correlation_id_mut(&mut self) -> &mut String {{ &mut self.correlation_id }} }}",
            pb_path(request.name())
        )?;

        // The client method.
        let args: Vec<String> = required
            .iter()
            .map(|f| setter_type(f).map(|(ty, _)| format!("{}: {ty}", f.name())))
            .collect::<Result<_>>()?;
        let sets: Vec<String> = required
            .iter()
            .map(|f| {
                setter_type(f).map(|(_, conv)| {
                    if matches!(f.kind(), Kind::Message(_)) {
                        format!("{0}: Some({0}{conv}),", f.name())
                    } else {
                        format!("{0}: {0}{conv},", f.name())
                    }
                })
            })
            .collect::<Result<_>>()?;
        let required_doc = if required.is_empty() {
            String::new()
        } else {
            let lines: Vec<String> =
                required.iter().map(|f| format!("- `{}`: {}", f.name(), comment(f).replace('\n', " "))).collect();
            format!("\n\n{}", lines.join("\n"))
        };
        writeln!(
            client_methods,
            "{}pub fn {}(&self, {}) -> {rpc}<'_> {{ let request = {} {{ {} ..Default::default() }}; {rpc} {{ client: self, request, options: Default::default() }} }}",
            doc(&format!("`{rpc}`: {rpc_doc}{required_doc}\n\nSee [`{rpc}`] for what else the call takes.")),
            snake(rpc),
            args.join(", "),
            pb_path(request.name()),
            sets.join(" "),
        )?;
    }
    writeln!(s, "impl crate::Client {{\n{client_methods}}}")?;

    // Reply types.
    for name in &replies {
        let Some(response) = pool.get_message_by_name(name) else { bail!("no message `{name}`") };
        let reply = reply_name(&response);
        writeln!(
            s,
            "{}#[derive(Debug, Clone, PartialEq)]\n#[non_exhaustive]\npub struct {reply} {{",
            doc(&format!("A `{}`, with every message field the contract always sets unwrapped.", response.name()))
        )?;
        for field in response.fields() {
            writeln!(s, "{}pub {}: {},", doc(&comment(&field)), field.name(), reply_type(&field)?)?;
        }
        writeln!(s, "}}\nimpl {reply} {{")?;
        writeln!(
            s,
            "pub(crate) fn from_response(response: {}) -> Result<Self, crate::Error> {{ Ok({reply} {{",
            pb_path(response.name())
        )?;
        for field in response.fields() {
            let name = field.name();
            if is_unwrapped(&field) {
                writeln!(
                    s,
                    "{name}: response.{name}.ok_or_else(|| crate::Error::Protocol(\"`{}.{name}` is unset\".into()))?,",
                    response.name()
                )?;
            } else {
                writeln!(s, "{name}: response.{name},")?;
            }
        }
        writeln!(s, "}}) }}\n}}")?;
    }

    // Display for every enum of the surface; SystemTime for timestamps, read
    // by a method named as the field, as prost names its enum readers.
    for e in pool.all_enums().filter(|e| e.package_name() == PACKAGE && e.parent_file().name() != OPTIONS_FILE) {
        let path = match e.parent_message() {
            Some(m) => format!("crate::pb::{}::{}", snake(m.name()), e.name()),
            None => pb_path(e.name()),
        };
        writeln!(
            s,
            "/// The value's name as the proto writes it, such as `{}`.\nimpl std::fmt::Display for {path} {{ fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {{ f.write_str(self.as_str_name()) }} }}",
            e.values().nth(1).or_else(|| e.values().next()).map(|v| v.name().to_string()).unwrap_or_default()
        )?;
    }
    for m in pool.all_messages().filter(|m| m.package_name() == PACKAGE && m.parent_message().is_none()) {
        let stamps: Vec<_> = m
            .fields()
            .filter(|f| {
                !f.is_list() && matches!(f.kind(), Kind::Message(t) if t.full_name() == "google.protobuf.Timestamp")
            })
            .collect();
        if stamps.is_empty() {
            continue;
        }
        writeln!(s, "impl {} {{", pb_path(m.name()))?;
        for field in stamps {
            let name = field.name();
            writeln!(
                s,
                "{}pub fn {name}(&self) -> Option<std::time::SystemTime> {{ self.{name}.and_then(|t| std::time::SystemTime::try_from(t).ok()) }}",
                doc(&format!(
                    "`{name}` as a [`std::time::SystemTime`] (the field `{name}` holds its wire form); `None` when unset or out of range.\n\n{}",
                    comment(&field)
                ))
            )?;
        }
        writeln!(s, "}}")?;
    }
    format_rust(&s)
}
