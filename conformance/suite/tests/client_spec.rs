//! `docs/client-spec.md` is rendered from the client catalogue: this is
//! its drift gate, and the catalogue's own consistency (unique ids and
//! requirement ids, every case in the page).

use std::collections::BTreeSet;
use std::path::Path;

use dome_conformance::client::{self, spec};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

#[test]
fn the_client_spec_is_rendered_from_the_catalogue() {
    if let Err(e) = spec::check(root(), &client::catalogue()) {
        panic!("{e}");
    }
}

#[test]
fn a_hand_edit_of_the_client_spec_is_drift() {
    let tmp = std::env::temp_dir().join(format!("dome-client-spec-{}", std::process::id()));
    std::fs::create_dir_all(tmp.join("docs")).unwrap();
    let catalogue = client::catalogue();
    let rendered = spec::render(&catalogue);
    std::fs::write(tmp.join(spec::PATH), &rendered).unwrap();
    assert_eq!(spec::check(&tmp, &catalogue), Ok(()));
    std::fs::write(tmp.join(spec::PATH), rendered.replace("C-DEDUPE", "C-DEDUP")).unwrap();
    let e = spec::check(&tmp, &catalogue).unwrap_err();
    assert!(e.contains("C-DEDUP |") && e.contains("cargo xtask conformance --write-client-spec ."), "{e}");
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn ids_and_requirements_are_unique_and_every_case_is_in_the_page() {
    let catalogue = client::catalogue();
    let ids: BTreeSet<_> = catalogue.iter().map(|c| c.id.as_str()).collect();
    let requirements: BTreeSet<_> = catalogue.iter().map(|c| c.requirement.as_str()).collect();
    assert_eq!(ids.len(), catalogue.len(), "case ids repeat");
    assert_eq!(requirements.len(), catalogue.len(), "requirement ids repeat");
    let page = spec::render(&catalogue);
    for case in &catalogue {
        assert!(case.id.starts_with("client.") && case.requirement.starts_with("C-"), "{case:?}");
        assert!(["core", "wait", "stream", "decisions"].contains(&case.profile), "{case:?}");
        assert!(
            page.contains(&format!("| {} | {} | `{}`", case.requirement, case.rule, case.id)),
            "{} is not in the page",
            case.id
        );
    }
}
