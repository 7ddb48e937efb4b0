//! Rules on a pair of services and on the RPCs they share: deleted
//! RPCs, streaming, idempotency, request and response types.

use prost_types::MethodDescriptorProto;
use prost_types::method_options::IdempotencyLevel;

use super::context::{Ctx, Loc, Out, Pair};
use super::model::{Method, Service};
use crate::engine::toolkit::{num, q, sub};

pub(super) fn rpc_no_delete(_: &Ctx<'_>, p: &Pair<Service<'_>>, out: &mut Out<'_>) {
    let s = &p.cur;
    for m in &p.old.proto.method {
        if !s.proto.method.iter().any(|c| c.name() == m.name()) {
            out.emit(
                Loc::at(s.file, vec![s.path.clone()]),
                format!("Previously present RPC {} on service {} was deleted.", q(m.name()), q(s.proto.name())),
            );
        }
    }
}

/// At `tail` below the RPC, else the RPC.
fn at<'a>(m: &Method<'a>, tail: &[i32]) -> Loc<'a> {
    Loc::at(m.file, vec![sub(&m.path, tail), m.path.clone()])
}

/// `RPC "Get" on service "Jobs"`.
fn rpc(m: &Method<'_>) -> String {
    format!("RPC {} on service {}", q(m.proto.name()), q(m.service.name()))
}

fn streaming(b: bool) -> &'static str {
    if b { "streaming" } else { "unary" }
}

pub(super) fn rpc_same_client_streaming(_: &Ctx<'_>, p: &Pair<Method<'_>>, out: &mut Out<'_>) {
    let (was, now) = (p.old.proto.client_streaming(), p.cur.proto.client_streaming());
    if was != now {
        out.emit(
            at(&p.cur, &[]),
            format!("{} changed from client {} to client {}.", rpc(&p.cur), streaming(was), streaming(now)),
        );
    }
}

pub(super) fn rpc_same_server_streaming(_: &Ctx<'_>, p: &Pair<Method<'_>>, out: &mut Out<'_>) {
    let (was, now) = (p.old.proto.server_streaming(), p.cur.proto.server_streaming());
    if was != now {
        out.emit(
            at(&p.cur, &[]),
            format!("{} changed from server {} to server {}.", rpc(&p.cur), streaming(was), streaming(now)),
        );
    }
}

pub(super) fn rpc_same_idempotency_level(_: &Ctx<'_>, p: &Pair<Method<'_>>, out: &mut Out<'_>) {
    let level = |m: &MethodDescriptorProto| {
        m.options.as_ref().map_or(IdempotencyLevel::IdempotencyUnknown, |o| o.idempotency_level())
    };
    let (was, now) = (level(p.old.proto), level(p.cur.proto));
    if was != now {
        out.emit(
            at(&p.cur, &[num::METHOD_OPTIONS, num::METHOD_OPTION_IDEMPOTENCY_LEVEL]),
            format!(
                "{} changed option \"idempotency_level\" from {} to {}.",
                rpc(&p.cur),
                q(was.as_str_name()),
                q(now.as_str_name())
            ),
        );
    }
}

fn type_name(t: &str) -> &str {
    t.trim_start_matches('.')
}

pub(super) fn rpc_same_request_type(_: &Ctx<'_>, p: &Pair<Method<'_>>, out: &mut Out<'_>) {
    let (was, now) = (type_name(p.old.proto.input_type()), type_name(p.cur.proto.input_type()));
    if was != now {
        out.emit(
            at(&p.cur, &[num::METHOD_INPUT]),
            format!("{} changed request type from {} to {}.", rpc(&p.cur), q(was), q(now)),
        );
    }
}

pub(super) fn rpc_same_response_type(_: &Ctx<'_>, p: &Pair<Method<'_>>, out: &mut Out<'_>) {
    let (was, now) = (type_name(p.old.proto.output_type()), type_name(p.cur.proto.output_type()));
    if was != now {
        out.emit(
            at(&p.cur, &[num::METHOD_OUTPUT]),
            format!("{} changed response type from {} to {}.", rpc(&p.cur), q(was), q(now)),
        );
    }
}
