//! Rules on files and packages: what was deleted from the tree, a file
//! or a package, and what a file states (options, syntax, package).

use std::collections::BTreeSet;

use prost_types::FileDescriptorProto;

use super::context::{Ctx, Loc, Out, Pair};
use super::model::{Index, Syntax};
use crate::engine::toolkit::{file_option, full_name, num, q};

pub(super) fn file_no_delete(ctx: &Ctx<'_>, out: &mut Out<'_>) {
    for name in ctx.old.files.keys() {
        if !ctx.cur.files.contains_key(name) {
            out.emit(Loc::nowhere(), format!("Previously present file {} was deleted.", q(name)));
        }
    }
}

/// `(file, name within the package)` of every element a side declares.
type Declared<'s> = BTreeSet<(&'s str, &'s str)>;

/// An element of the baseline that its file, still present, no longer
/// declares (FILE category: moving an element to another file breaks
/// generated imports).
fn deleted_from_file<'a>(
    ctx: &Ctx<'a>,
    out: &mut Out<'_>,
    kind: &str,
    declared: impl Fn(&'a Index<'a>) -> Vec<(&'a FileDescriptorProto, &'a str)>,
) {
    let current: Declared<'_> = declared(ctx.cur).into_iter().map(|(f, n)| (f.name(), n)).collect();
    for (file, nested) in declared(ctx.old) {
        if ctx.cur.files.contains_key(file.name()) && !current.contains(&(file.name(), nested)) {
            out.emit(
                ctx.gone(file.name(), file.package(), nested),
                format!("Previously present {kind} {} was deleted from file.", q(nested)),
            );
        }
    }
}

pub(super) fn message_no_delete(ctx: &Ctx<'_>, out: &mut Out<'_>) {
    deleted_from_file(ctx, out, "message", |ix| ix.messages.values().map(|m| (m.file, m.nested.as_str())).collect());
}

pub(super) fn enum_no_delete(ctx: &Ctx<'_>, out: &mut Out<'_>) {
    deleted_from_file(ctx, out, "enum", |ix| ix.enums.values().map(|e| (e.file, e.nested.as_str())).collect());
}

pub(super) fn service_no_delete(ctx: &Ctx<'_>, out: &mut Out<'_>) {
    deleted_from_file(ctx, out, "service", |ix| ix.services.values().map(|s| (s.file, s.proto.name())).collect());
}

pub(super) fn extension_no_delete(ctx: &Ctx<'_>, out: &mut Out<'_>) {
    deleted_from_file(ctx, out, "extension", |ix| {
        ix.extensions.values().map(|x| (x.file, x.nested.as_str())).collect()
    });
}

pub(super) fn file_same_option(_: &Ctx<'_>, p: &Pair<&FileDescriptorProto>, out: &mut Out<'_>, name: &str) {
    let option = file_option(name);
    let (before, after) = (option.effective(p.old), option.effective(p.cur));
    if before != after {
        // The option's statement, or (removed) the whole file, as buf.
        out.emit(
            Loc::at(p.cur, vec![vec![num::FILE_OPTIONS, option.number]]),
            format!("File option {} changed from {} to {}.", q(option.name), q(before), q(after)),
        );
    }
}

pub(super) fn file_same_syntax(_: &Ctx<'_>, p: &Pair<&FileDescriptorProto>, out: &mut Out<'_>) {
    let (before, after) = (Syntax::of(p.old).name(), Syntax::of(p.cur).name());
    if before != after {
        out.emit(
            Loc::at(p.cur, vec![vec![num::FILE_SYNTAX], vec![num::FILE_EDITION], vec![]]),
            format!("File syntax changed from {} to {}.", q(before), q(after)),
        );
    }
}

pub(super) fn file_same_package(_: &Ctx<'_>, p: &Pair<&FileDescriptorProto>, out: &mut Out<'_>) {
    if p.old.package() != p.cur.package() {
        out.emit(
            Loc::at(p.cur, vec![vec![num::FILE_PACKAGE], vec![]]),
            format!("File package changed from {} to {}.", q(p.old.package()), q(p.cur.package())),
        );
    }
}

fn packages<'a>(ix: &Index<'a>) -> BTreeSet<&'a str> {
    ix.files.values().map(|f| f.package()).collect()
}

pub(super) fn package_no_delete(ctx: &Ctx<'_>, out: &mut Out<'_>) {
    for p in packages(ctx.old).difference(&packages(ctx.cur)) {
        out.emit(Loc::nowhere(), format!("Previously present package {} was deleted.", q(p)));
    }
}

/// An element of the baseline that its package, still present, no
/// longer declares in any file.
fn deleted_from_package<'a>(
    ctx: &Ctx<'a>,
    out: &mut Out<'_>,
    kind: &str,
    declared: impl Fn(&'a Index<'a>) -> Vec<(&'a FileDescriptorProto, &'a str)>,
) {
    let surviving = packages(ctx.cur);
    let current: BTreeSet<String> =
        declared(ctx.cur).into_iter().map(|(f, nested)| full_name(f.package(), nested)).collect();
    for (file, nested) in declared(ctx.old) {
        let pkg = file.package();
        if surviving.contains(pkg) && !current.contains(&full_name(pkg, nested)) {
            out.emit(
                ctx.gone(file.name(), pkg, nested),
                format!("Previously present {kind} {} was deleted from package {}.", q(nested), q(pkg)),
            );
        }
    }
}

pub(super) fn package_message_no_delete(ctx: &Ctx<'_>, out: &mut Out<'_>) {
    deleted_from_package(ctx, out, "message", |ix| ix.messages.values().map(|m| (m.file, m.nested.as_str())).collect());
}

pub(super) fn package_enum_no_delete(ctx: &Ctx<'_>, out: &mut Out<'_>) {
    deleted_from_package(ctx, out, "enum", |ix| ix.enums.values().map(|e| (e.file, e.nested.as_str())).collect());
}

pub(super) fn package_service_no_delete(ctx: &Ctx<'_>, out: &mut Out<'_>) {
    deleted_from_package(ctx, out, "service", |ix| ix.services.values().map(|s| (s.file, s.proto.name())).collect());
}

pub(super) fn package_extension_no_delete(ctx: &Ctx<'_>, out: &mut Out<'_>) {
    deleted_from_package(ctx, out, "extension", |ix| {
        ix.extensions.values().map(|x| (x.file, x.nested.as_str())).collect()
    });
}
