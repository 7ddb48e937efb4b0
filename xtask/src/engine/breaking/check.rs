//! The comparison engine: pairs the elements of the two sides once, the
//! way buf does (files by path, messages, enums and services by full
//! name, fields by number, RPCs by name, extensions by extendee and
//! number), then hands each pair to the rules that look at that kind of
//! element. The rules themselves are small functions in `files`,
//! `messages`, `enums`, `fields` and `services`, listed in the registry
//! [`super::rules`].

use prost_types::FileDescriptorProto;

use super::context::{Ctx, Out, Pair};
use super::model::{Enum, Field, Index, Method, Msg, Service};
use super::rules::{Check, Rule};
use crate::engine::findings::Finding;
use crate::engine::input::Tree;

/// Every pair of elements of the two sides, in baseline order.
struct Pairs<'a> {
    files: Vec<Pair<&'a FileDescriptorProto>>,
    messages: Vec<Pair<Msg<'a>>>,
    fields: Vec<Pair<Field<'a>>>,
    enums: Vec<Pair<Enum<'a>>>,
    services: Vec<Pair<Service<'a>>>,
    methods: Vec<Pair<Method<'a>>>,
}

impl<'a> Pairs<'a> {
    fn of(cur: &Index<'a>, old: &Index<'a>) -> Pairs<'a> {
        let files =
            old.files.iter().filter_map(|(name, o)| cur.files.get(name).map(|c| Pair { cur: *c, old: *o })).collect();
        let messages: Vec<Pair<Msg<'a>>> = old
            .messages
            .iter()
            .filter_map(|(k, o)| cur.messages.get(k).map(|c| Pair { cur: c.clone(), old: o.clone() }))
            .collect();
        let mut fields = Vec::new();
        for m in &messages {
            let current = Index::fields_of(&m.cur);
            for (n, o) in Index::fields_of(&m.old) {
                if let Some(c) = current.get(&n) {
                    fields.push(Pair { cur: c.clone(), old: o });
                }
            }
        }
        fields.extend(
            old.extensions
                .iter()
                .filter_map(|(k, o)| cur.extensions.get(k).map(|c| Pair { cur: c.clone(), old: o.clone() })),
        );
        let enums = old
            .enums
            .iter()
            .filter_map(|(k, o)| cur.enums.get(k).map(|c| Pair { cur: c.clone(), old: o.clone() }))
            .collect();
        let services: Vec<Pair<Service<'a>>> = old
            .services
            .iter()
            .filter_map(|(k, o)| cur.services.get(k).map(|c| Pair { cur: c.clone(), old: o.clone() }))
            .collect();
        let mut methods = Vec::new();
        for s in &services {
            let current = s.cur.methods();
            for o in s.old.methods() {
                if let Some(c) = current.iter().find(|c| c.proto.name() == o.proto.name()) {
                    methods.push(Pair { cur: c.clone(), old: o });
                }
            }
        }
        Pairs { files, messages, fields, enums, services, methods }
    }
}

/// Runs `rules` on `current` against `baseline`; the findings are sorted
/// as buf sorts them.
pub(crate) fn run(current: &Tree, baseline: &Tree, rules: impl IntoIterator<Item = &'static Rule>) -> Vec<Finding> {
    let cur = Index::new(current);
    let old = Index::new(baseline);
    let ctx = Ctx { cur: &cur, old: &old };
    let pairs = Pairs::of(&cur, &old);
    let mut found = Vec::new();
    for rule in rules {
        let out = &mut Out::new(rule.id, rule.why, &mut found);
        match rule.check {
            Check::Tree(check) => check(&ctx, out),
            Check::File(check) => pairs.files.iter().for_each(|p| check(&ctx, p, out)),
            Check::Message(check) => pairs.messages.iter().for_each(|p| check(&ctx, p, out)),
            Check::Field(check) => pairs.fields.iter().for_each(|p| check(&ctx, p, out)),
            Check::Enum(check) => pairs.enums.iter().for_each(|p| check(&ctx, p, out)),
            Check::Service(check) => pairs.services.iter().for_each(|p| check(&ctx, p, out)),
            Check::Method(check) => pairs.methods.iter().for_each(|p| check(&ctx, p, out)),
        }
    }
    found.sort();
    found.dedup();
    found
}
