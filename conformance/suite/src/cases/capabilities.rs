//! Capabilities and version negotiation (`capabilities.proto`,
//! `service.proto`'s conventions).

use dome_sdk::contract;
use dome_sdk::pb;

use super::expect_error;
use crate::case::{Case, CaseResult, Ctx};
use crate::ensure;
use crate::model::is_prefixed_id;

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case::new(
            "capabilities.conformance_profile",
            "a server advertising dome.conformance.v1 offers dome.conformance.script 1.0.0 with the published script schema as its input schema",
            "dome.gateway.v1.GatewayService (conformance profile); conformance_script.schema.json",
            conformance_profile,
        )
        .checks(&["profile.skill_offered", "profile.schema_published"]),
        Case::new(
            "capabilities.shape",
            "ListCapabilities lists api versions (ascending, with v1), features ascending, skills by id then version, one SSOT schema version per family in number order, and limits",
            "dome.gateway.v1.ListCapabilitiesResponse",
            shape,
        )
        .checks(&["capabilities.api_versions", "capabilities.features_sorted", "capabilities.skills_sorted", "capabilities.ssot_versions", "capabilities.server_version", "skill.id", "skill.version", "skill.description", "skill.input_schema"])
        .anywhere(),
        Case::new(
            "capabilities.stable",
            "the ListCapabilities response is identical for every call to one server process, apart from correlation_id",
            "dome.gateway.v1.ListCapabilitiesResponse",
            stable,
        )
        .checks(&["capabilities.stable"])
        .anywhere(),
        Case::new(
            "capabilities.correlation_id",
            "a request's correlation_id is echoed; an empty one is replaced by `corr-` and 32 lowercase hex digits",
            "dome.gateway.v1.ListCapabilitiesRequest.correlation_id",
            correlation,
        )
        .checks(&["correlation.echoed", "correlation.echoed_on_response", "correlation.assigned", "correlation.form"])
        .anywhere(),
        Case::new(
            "negotiation.served_versions",
            "every API version the server lists is accepted, in the api_version field and in the dome-api-version header",
            "dome.gateway.v1.ListCapabilitiesRequest.api_version",
            served_versions,
        )
        .checks(&["capabilities.served_versions_accepted"])
        .anywhere(),
        Case::new(
            "negotiation.unsupported_header",
            "an unserved version in the dome-api-version header fails any call with UNSUPPORTED_API_VERSION before anything else happens",
            "dome.gateway.v1.GatewayService (dome-api-version header)",
            unsupported_header,
        )
        .checks(&["version.header_checked", "version.checked_first"])
        .anywhere(),
    ]
}

async fn conformance_profile(ctx: Ctx) -> CaseResult {
    let skill = ctx
        .caps
        .skills
        .iter()
        .find(|s| s.skill_id == contract::CONFORMANCE_SKILL_ID && s.version == contract::CONFORMANCE_SKILL_VERSION);
    let Some(skill) = skill else {
        return Err(crate::case::Stop::Fail(format!(
            "the server advertises {} but does not offer {}@{}",
            contract::CONFORMANCE_FEATURE,
            contract::CONFORMANCE_SKILL_ID,
            contract::CONFORMANCE_SKILL_VERSION
        )));
    };
    let published: serde_json::Value = serde_json::from_str(contract::CONFORMANCE_SCRIPT_SCHEMA)
        .map_err(|e| crate::case::Stop::Fail(e.to_string()))?;
    let offered: Result<serde_json::Value, _> = serde_json::from_str(&skill.input_schema_json);
    ensure!(
        offered.as_ref().ok() == Some(&published),
        "the skill's input_schema_json is not the published conformance_script.schema.json"
    );
    ensure!(
        skill.required_features.iter().any(|f| f == contract::CONFORMANCE_FEATURE),
        "the conformance skill does not list {} among its required_features ({:?})",
        contract::CONFORMANCE_FEATURE,
        skill.required_features
    );
    Ok(())
}

fn ascending(v: &[String]) -> bool {
    v.windows(2).all(|w| w[0] < w[1])
}

async fn shape(ctx: Ctx) -> CaseResult {
    let caps = &ctx.caps;
    ensure!(!caps.api_versions.is_empty(), "api_versions is empty (it is never empty)");
    ensure!(ascending(&caps.api_versions), "api_versions {:?} are not ascending", caps.api_versions);
    ensure!(
        caps.api_versions.iter().any(|v| v == contract::API_VERSION),
        "api_versions {:?} lack {}",
        caps.api_versions,
        contract::API_VERSION
    );
    ensure!(ascending(&caps.features), "features {:?} are not ascending", caps.features);
    let keys: Vec<(String, String)> = caps.skills.iter().map(|s| (s.skill_id.clone(), s.version.clone())).collect();
    ensure!(keys.windows(2).all(|w| w[0] < w[1]), "skills {keys:?} are not ascending by id, then version (or repeat)");
    for s in &caps.skills {
        ensure!(
            !s.skill_id.is_empty() && !s.version.is_empty() && !s.description.is_empty(),
            "skill {:?} lacks a required id, version or description",
            s.skill_id
        );
        let schema = serde_json::from_str::<serde_json::Value>(&s.input_schema_json);
        let Ok(schema) = schema else {
            return Err(crate::case::Stop::Fail(format!("skill {}'s input_schema_json is not JSON", s.skill_id)));
        };
        // Canonical: keys sorted (serde_json's map is ordered), no
        // insignificant whitespace.
        ensure!(
            serde_json::to_string(&schema).ok().as_deref() == Some(s.input_schema_json.as_str()),
            "skill {}'s input_schema_json is not canonical JSON text (keys sorted, no insignificant whitespace)",
            s.skill_id
        );
        let dotted = s
            .skill_id
            .split('.')
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
        ensure!(dotted, "skill id {:?} is not lowercase dotted words", s.skill_id);
        ensure!(is_semver(&s.version), "skill {}'s version {:?} is not a semantic version", s.skill_id, s.version);
    }
    let families: Vec<i32> = caps.ssot_schema_versions.iter().map(|v| v.family).collect();
    let want: Vec<i32> = (1..=6).collect();
    ensure!(
        families == want,
        "ssot_schema_versions families {families:?}, expected one per family in number order {want:?}"
    );
    ensure!(
        caps.ssot_schema_versions.iter().all(|v| v.version == "1.0.0"),
        "ssot_schema_versions {:?}: in v1 every family's version is 1.0.0",
        caps.ssot_schema_versions.iter().map(|v| v.version.as_str()).collect::<Vec<_>>()
    );
    ensure!(caps.limits.is_some(), "limits is unset");
    ensure!(is_semver(&caps.server_version), "server_version {:?} is not a semantic version", caps.server_version);
    Ok(())
}

/// `MAJOR.MINOR.PATCH`, each decimal, with an optional `-pre` or `+build`.
fn is_semver(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

async fn stable(ctx: Ctx) -> CaseResult {
    let a = ctx.wire.capabilities(pb::ListCapabilitiesRequest::default()).await?;
    let b = ctx
        .wire
        .capabilities(pb::ListCapabilitiesRequest {
            correlation_id: ctx.correlation("caps"),
            api_version: String::new(),
        })
        .await?;
    let strip = |mut r: pb::ListCapabilitiesResponse| {
        r.correlation_id.clear();
        r
    };
    let (a, b, first) = (strip(a), strip(b), strip((*ctx.caps).clone()));
    ensure!(a == b && a == first, "two ListCapabilities calls answered differently (apart from correlation_id)");
    Ok(())
}

async fn correlation(ctx: Ctx) -> CaseResult {
    let corr = ctx.correlation("echo");
    let r = ctx
        .wire
        .capabilities(pb::ListCapabilitiesRequest { correlation_id: corr.clone(), api_version: String::new() })
        .await?;
    ensure!(r.correlation_id == corr, "correlation_id {:?} echoed as {:?}", corr, r.correlation_id);
    let r = ctx.wire.capabilities(pb::ListCapabilitiesRequest::default()).await?;
    ensure!(
        is_prefixed_id(&r.correlation_id, "corr-"),
        "the assigned correlation_id {:?} is not `corr-` and 32 lowercase hex digits",
        r.correlation_id
    );
    let again = ctx.wire.capabilities(pb::ListCapabilitiesRequest::default()).await?;
    ensure!(
        again.correlation_id != r.correlation_id,
        "two calls without a correlation id were both assigned {:?}",
        r.correlation_id
    );
    // A malformed one is INVALID_ARGUMENT, echoing an assigned id instead.
    for bad in ["has space".to_string(), "x".repeat(129)] {
        let result = ctx
            .wire
            .capabilities(pb::ListCapabilitiesRequest { correlation_id: bad.clone(), api_version: String::new() })
            .await;
        let seen = expect_error(
            result,
            "INVALID_ARGUMENT",
            None,
            &format!("ListCapabilities with correlation_id {bad:.20?}"),
        )?;
        let echoed = seen.metadata.get("correlationId").map(String::as_str).unwrap_or("");
        ensure!(
            is_prefixed_id(echoed, "corr-"),
            "the error for a malformed correlation_id carries correlationId {echoed:?}, expected an assigned `corr-` id"
        );
    }
    Ok(())
}

async fn served_versions(ctx: Ctx) -> CaseResult {
    for v in &ctx.caps.api_versions {
        ctx.wire
            .capabilities(pb::ListCapabilitiesRequest { correlation_id: String::new(), api_version: v.clone() })
            .await?;
        ctx.wire
            .capabilities_with_headers(
                pb::ListCapabilitiesRequest::default(),
                &[(contract::API_VERSION_HEADER, v)],
                false,
            )
            .await?;
    }
    Ok(())
}

async fn unsupported_header(ctx: Ctx) -> CaseResult {
    let corr = ctx.correlation("version");
    let result = ctx
        .wire
        .capabilities_with_headers(
            pb::ListCapabilitiesRequest { correlation_id: corr.clone(), api_version: String::new() },
            &[(contract::API_VERSION_HEADER, "v0-unserved")],
            false,
        )
        .await;
    let seen = expect_error(
        result,
        "UNSUPPORTED_API_VERSION",
        Some(&corr),
        "ListCapabilities with dome-api-version: v0-unserved",
    )?;
    ensure!(
        seen.metadata.get("requestedVersion").map(String::as_str) == Some("v0-unserved"),
        "requestedVersion is {:?}, the header said v0-unserved",
        seen.metadata.get("requestedVersion")
    );
    // Before authentication: a call without credentials learns only that
    // the version is not served.
    let corr = ctx.correlation("version");
    let result = ctx
        .wire
        .capabilities_with_headers(
            pb::ListCapabilitiesRequest { correlation_id: corr.clone(), api_version: String::new() },
            &[(contract::API_VERSION_HEADER, "v0-unserved")],
            true,
        )
        .await;
    expect_error(
        result,
        "UNSUPPORTED_API_VERSION",
        Some(&corr),
        "ListCapabilities without credentials and with dome-api-version: v0-unserved",
    )?;
    // Before anything else: an unknown job would be JOB_NOT_FOUND, and an
    // empty id INVALID_ARGUMENT, but the version is checked first.
    for job_id in ["job-00000000000000000000000000000000", ""] {
        let corr = ctx.correlation("version");
        let result =
            ctx.wire.status_with_headers(job_id, &corr, &[(contract::API_VERSION_HEADER, "v0-unserved")]).await;
        expect_error(
            result,
            "UNSUPPORTED_API_VERSION",
            Some(&corr),
            &format!("GetJobStatus({job_id:?}) with dome-api-version: v0-unserved"),
        )?;
    }
    Ok(())
}
