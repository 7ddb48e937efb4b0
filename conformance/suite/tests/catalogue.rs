//! The catalogue keeps its promises: stable snake_case ids, one-line
//! rules, proto elements that exist in the contract, and one error case
//! per `ErrorReason` the contract defines.

use std::collections::BTreeSet;

use dome_conformance::cases::catalogue;
use dome_sdk::contract::ERROR_REASONS;
use prost_reflect::DescriptorPool;

fn is_snake_id(id: &str) -> bool {
    let mut parts = id.split('.');
    let group_ok = parts.next().is_some_and(|g| !g.is_empty() && g.bytes().all(|b| b.is_ascii_lowercase()));
    let rest: Vec<&str> = parts.collect();
    group_ok
        && !rest.is_empty()
        && rest
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'))
}

/// Whether a full name is a message, field, service, method, enum or enum
/// value of the contract.
fn resolves(pool: &DescriptorPool, name: &str) -> bool {
    if pool.get_message_by_name(name).is_some()
        || pool.get_service_by_name(name).is_some()
        || pool.get_enum_by_name(name).is_some()
    {
        return true;
    }
    let Some((parent, leaf)) = name.rsplit_once('.') else { return false };
    pool.get_message_by_name(parent).is_some_and(|m| m.get_field_by_name(leaf).is_some())
        || pool.get_service_by_name(parent).is_some_and(|s| s.methods().any(|m| m.name() == leaf))
        || pool.get_enum_by_name(parent).is_some_and(|e| e.get_value_by_name(leaf).is_some())
}

#[test]
fn ids_are_unique_snake_case_and_rules_are_one_line() {
    let cases = catalogue();
    let mut ids = BTreeSet::new();
    for c in &cases {
        assert!(is_snake_id(&c.id), "{} is not a group.snake_case id", c.id);
        assert!(ids.insert(c.id.clone()), "{} is used twice", c.id);
        assert!(!c.rule.is_empty() && !c.rule.contains('\n'), "{}: the rule must be one line", c.id);
    }
    assert!(!is_snake_id("Errors.x") && !is_snake_id("errors") && !is_snake_id("errors.Job"));
}

#[test]
fn every_proto_element_named_exists_in_the_contract() {
    let pool = DescriptorPool::decode(dome_sdk::FILE_DESCRIPTOR_SET).expect("the descriptor set decodes");
    let proto_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto/dome/gateway/v1");
    for c in catalogue() {
        for element in c.proto.split("; ") {
            // The element is the first word; words after it qualify it.
            let name = element.split(' ').next().unwrap_or("");
            let ok = if name.starts_with("dome.gateway.v1.") {
                resolves(&pool, name)
            } else {
                proto_dir.join(name).is_file()
            };
            assert!(ok, "{}: {name:?} is no element of the contract", c.id);
        }
    }
    assert!(!resolves(&pool, "dome.gateway.v1.Job.no_such_field"));
}

#[test]
fn every_error_reason_has_its_case() {
    let ids: BTreeSet<String> = catalogue().into_iter().map(|c| c.id).collect();
    for spec in ERROR_REASONS {
        let id = format!("errors.{}", spec.name.to_ascii_lowercase());
        assert!(ids.contains(&id), "no case {id} for ErrorReason {}", spec.name);
    }
}
