//! Error mapping (`errors.proto`): one case per `ErrorReason` of the
//! contract, generated from `dome_sdk::contract::ERROR_REASONS` so that no
//! code, retryability or metadata key is restated here. Each case provokes
//! its error the way the contract says it arises and checks the whole wire
//! form; reasons no client can provoke deterministically are skipped with
//! the reason. Both matches on the reason name every `ErrorReason` and
//! have no catch-all arm, so a reason added to the proto does not build
//! until this module says how to provoke it (or why it cannot). Plus:
//! policy reason codes travel as data, never as errors.

use dome_sdk::contract::{self, ErrorReasonSpec};
use dome_sdk::pb::{self, ErrorReason as Reason};

use super::{expect_error, parked, stream_error};
use crate::case::{Case, CaseResult, Ctx, Stop};
use crate::ensure;
use crate::script::{Script, Step};
use crate::wire::RpcError;

pub(super) fn cases() -> Vec<Case> {
    let mut cases: Vec<Case> = contract::ERROR_REASONS
        .iter()
        .map(|spec| {
            let id = format!("errors.{}", spec.name.to_ascii_lowercase());
            let rule = format!(
                "{} travels with gRPC {:?}, one ErrorInfo (reason, domain {}, correlationId{}), {} BadRequest and {} RetryInfo",
                spec.name,
                spec.code,
                contract::ERROR_DOMAIN,
                spec.metadata_keys.iter().map(|k| format!(", {k}")).collect::<String>(),
                if spec.bad_request { "a" } else { "no" },
                if spec.retryable { "a" } else { "no" },
            );
            let proto = format!("dome.gateway.v1.ErrorReason.ERROR_REASON_{}", spec.name);
            let case = Case::new(&id, &rule, &proto, move |ctx| provoke(ctx, spec)).checks(&rules_of(spec.name));
            match spec.reason {
                // These need no conformance skill, or must run where it is off.
                Reason::InvalidArgument
                | Reason::JobNotFound
                | Reason::UnsupportedApiVersion
                | Reason::FeatureNotEnabled
                | Reason::Unauthenticated
                | Reason::PermissionDenied
                | Reason::ShuttingDown
                | Reason::Internal
                | Reason::Unimplemented => case.anywhere(),
                // It fills the server's queue, so nothing may run beside it.
                Reason::QueueFull => case.exclusive(),
                Reason::InvalidSkillInput
                | Reason::SkillNotFound
                | Reason::DecisionNotFound
                | Reason::IdempotencyKeyConflict
                | Reason::CursorAheadOfHead
                | Reason::CursorExpired
                | Reason::LimitExceeded
                | Reason::SubscriberLagged
                | Reason::Unspecified => case,
            }
        })
        .collect();
    cases.push(
        Case::new(
            "errors.correlation_assigned",
            "every error carries correlationId: the request's, or one the server assigned (`corr-` and 32 lowercase hex digits) when the request set none",
            "dome.gateway.v1.ErrorReason; errors.proto (correlationId on every error)",
            correlation_assigned,
        )
        .checks(&["errors.correlation_id", "correlation.assigned"])
        .anywhere(),
    );
    cases.push(Case::new(
        "errors.policy_codes_are_data",
        "a job that fails with a policy reason code is read with OK: the code is data in the outcome and events, never an RPC error",
        "dome.gateway.v1.JobOutcome.reason_code; errors.proto (policy codes are not RPC errors)",
        policy_codes_are_data,
    ).checks(&["errors.policy_codes_are_data", "state.failed_data"]));
    cases.push(
        Case::new(
            "errors.bounded",
            "an error provoked by oversized strings, on every RPC, fits an 8 KiB header list: the client decodes it as a typed error whose grpc-status-details-bin is under 8 KiB",
            "errors.proto (every error fits the trailers of any default client)",
            errors_bounded,
        )
        .checks(&["errors.bounded"])
        .anywhere(),
    );
    cases
}

/// The header-list limit of the client of `errors.bounded`: what many
/// default gRPC clients accept.
const HEADER_LIST_LIMIT: u32 = 8 * 1024;

/// Sends a string as large as the request limit allows (up to 1 MiB, four
/// to a request) in every string field of every RPC, on a connection that
/// accepts at most 8 KiB of trailers, and checks each answer is a typed
/// error of the contract whose details, base64-encoded, are under 8 KiB.
async fn errors_bounded(ctx: Ctx) -> CaseResult {
    let max_request = ctx.limits().max_request_bytes;
    let size = if max_request == 0 { 1 << 20 } else { (max_request / 4).min(1 << 20) } as usize;
    // Multibyte, so that a server cutting it must cut on a character.
    let huge = "é".repeat(size / 2);
    let wire = ctx
        .wire
        .with_header_limit(HEADER_LIST_LIMIT)
        .await
        .map_err(|e| Stop::Fail(format!("a connection with an 8 KiB header-list limit failed: {e}")))?;
    let corr = |what: &str| ctx.correlation(what);

    let c = corr("capabilities");
    let r =
        wire.capabilities(pb::ListCapabilitiesRequest { correlation_id: c.clone(), api_version: huge.clone() }).await;
    typed_and_small(r, &c, "ListCapabilities with an oversized api_version")?;

    let c = corr("execute-skill");
    let req = pb::SkillExecuteRequest { correlation_id: c.clone(), skill_id: huge.clone(), ..Default::default() };
    typed_and_small(wire.execute(req).await, &c, "SkillExecute with an oversized skill_id")?;

    let c = corr("execute-version");
    let skill = ctx.caps.skills.first().map(|s| s.skill_id.clone()).unwrap_or_else(|| "dome.echo".into());
    let req = pb::SkillExecuteRequest {
        correlation_id: c.clone(),
        skill_id: skill,
        skill_version: huge.clone(),
        ..Default::default()
    };
    typed_and_small(wire.execute(req).await, &c, "SkillExecute with an oversized skill_version")?;

    let c = corr("execute-input");
    let mut req = ctx.request(&Script::default(), &c);
    let max_input = ctx.limits().max_input_bytes;
    let input_size = if max_input == 0 { size } else { size.min(max_input as usize / 2) };
    // A wrong type deep in the script, whose value is the oversized string:
    // a validator that quotes the value it rejects would echo it all.
    req.input_json =
        serde_json::json!({ "steps": [{ "progress": { "percent": "é".repeat(input_size / 4) } }] }).to_string();
    typed_and_small(wire.execute(req).await, &c, "SkillExecute with an oversized invalid input")?;

    let c = corr("status");
    typed_and_small(wire.status(&huge, &c).await, &c, "GetJobStatus with an oversized job_id")?;

    let c = corr("cancel");
    typed_and_small(wire.cancel(&huge, &c, &huge).await, &c, "CancelJob with an oversized job_id and reason")?;

    let c = corr("gate");
    let req = pb::GetGateDecisionRequest { correlation_id: c.clone(), run_id: huge.clone(), task_id: huge.clone() };
    typed_and_small(wire.gate(req).await, &c, "GetGateDecision with an oversized run_id and task_id")?;

    let c = corr("promotion");
    let req = pb::GetPromotionDecisionRequest { correlation_id: c.clone(), run_id: huge.clone() };
    typed_and_small(wire.promotion(req).await, &c, "GetPromotionDecision with an oversized run_id")?;

    let c = corr("stream");
    let opened = wire.stream_with_correlation(&huge, 0, &c).await;
    let first = match opened {
        Ok(mut stream) => stream.next().await.map(|_| ()),
        Err(e) => Err(e),
    };
    typed_and_small(first, &c, "StreamJobEvents with an oversized job_id")?;
    Ok(())
}

/// Checks that a call failed with a typed error of the contract (any
/// reason, in its complete wire form) whose details are under 8 KiB once
/// base64-encoded, as they travel.
fn typed_and_small<T>(r: crate::wire::Rpc<T>, correlation_id: &str, what: &str) -> Result<(), Stop> {
    let status = match r {
        Ok(_) => return Err(Stop::Fail(format!("{what} succeeded; expected a typed error"))),
        Err(RpcError::Status(s)) => s,
        Err(e) => return Err(Stop::Fail(format!("{what}: {e}"))),
    };
    let Some(info) = tonic_types::StatusExt::get_details_error_info(&*status) else {
        return Err(Stop::Fail(format!(
            "{what} got an untyped {:?} ({:?}) through a client accepting 8 KiB of trailers: the typed error did not fit",
            status.code(),
            status.message()
        )));
    };
    crate::wire::check_error(&status, &info.reason, Some(correlation_id))
        .map_err(|e| Stop::Fail(format!("{what}: {e}")))?;
    let encoded = status.details().len().div_ceil(3) * 4;
    ensure!(
        encoded < HEADER_LIST_LIMIT as usize,
        "{what}: grpc-status-details-bin is {encoded} bytes base64-encoded; the contract bounds it under 8 KiB"
    );
    Ok(())
}

/// The rules the case of one error reason checks: the wire form every
/// error shares, its own comment, and the rules of the requests that
/// provoke it. Reasons no client can provoke check nothing (their cases
/// skip, and the matrix gives the reason).
fn rules_of(name: &str) -> Vec<&'static str> {
    let own: &[&'static str] = match name {
        "INVALID_ARGUMENT" => &[
            "errors.invalid_argument",
            "execute.skill_id_required",
            "idempotency.key_form",
            "execute.labels_form",
            "cancel.reason_length",
        ],
        "INVALID_SKILL_INPUT" => &["errors.invalid_skill_input", "execute.input_validated", "execute.empty_input"],
        "SKILL_NOT_FOUND" => &["errors.skill_not_found", "execute.unknown_skill", "execute.unknown_version"],
        "JOB_NOT_FOUND" => &["errors.job_not_found", "stream.correlation_on_errors"],
        "DECISION_NOT_FOUND" => {
            &["errors.decision_not_found", "decisions.gate_not_found", "decisions.promotion_not_found"]
        }
        "IDEMPOTENCY_KEY_CONFLICT" => {
            &["errors.idempotency_key_conflict", "idempotency.conflict", "idempotency.fields_as_sent"]
        }
        "CURSOR_AHEAD_OF_HEAD" => &["errors.cursor_ahead_of_head", "cursor.ahead_of_head"],
        "CURSOR_EXPIRED" => &["errors.cursor_expired", "cursor.expired", "limits.events_retained"],
        "SUBSCRIBER_LAGGED" => &["errors.subscriber_lagged", "limits.subscriber_lag", "limits.lag_never_skips"],
        "UNSUPPORTED_API_VERSION" => &["errors.unsupported_api_version", "capabilities.api_version_checked"],
        "FEATURE_NOT_ENABLED" => &["errors.feature_not_enabled", "profile.off_feature_not_enabled"],
        "QUEUE_FULL" => &["errors.queue_full", "limits.queue_capacity", "limits.max_running_jobs"],
        "LIMIT_EXCEEDED" => {
            &["errors.limit_exceeded", "limits.exceeded_named", "execute.max_input_bytes", "limits.subscribers_per_job"]
        }
        "UNAUTHENTICATED" => &["errors.unauthenticated", "auth.bearer_required"],
        "UNIMPLEMENTED" => &["errors.unimplemented"],
        _ => return Vec::new(),
    };
    let shared = [
        "errors.status_details",
        "errors.code",
        "errors.error_info",
        "errors.domain",
        "errors.correlation_id",
        "errors.metadata_keys",
        "errors.bad_request",
        "errors.retry_info",
    ];
    shared.iter().chain(own).copied().collect()
}

/// An error of a call that set no correlation id still carries
/// `correlationId`: the one the server assigned to the call.
async fn correlation_assigned(ctx: Ctx) -> CaseResult {
    let unknown_job = format!("job-{}", hex32(ctx.seed ^ 0x5a5a));
    let seen = expect_error(
        ctx.wire.status(&unknown_job, "").await,
        "JOB_NOT_FOUND",
        None,
        "GetJobStatus of an unknown job without a correlation id",
    )?;
    let assigned = md(&seen, contract::CORRELATION_ID_KEY).to_string();
    ensure!(
        crate::model::is_prefixed_id(&assigned, "corr-"),
        "the error of a call without a correlation id carries correlationId {assigned:?}, expected the one the server assigned (`corr-` and 32 lowercase hex digits)"
    );
    let e = stream_error(&ctx, &unknown_job, 0).await?;
    let seen = expect_error::<()>(
        Err(e),
        "JOB_NOT_FOUND",
        None,
        "StreamJobEvents of an unknown job without a correlation id",
    )?;
    let again = md(&seen, contract::CORRELATION_ID_KEY);
    ensure!(
        crate::model::is_prefixed_id(again, "corr-") && again != assigned,
        "the stream's error carries correlationId {again:?}; expected a fresh assigned one (`corr-` and 32 lowercase hex digits), not {assigned:?}"
    );
    Ok(())
}

fn skip(why: &str) -> CaseResult {
    Err(Stop::Skip(why.to_string()))
}

fn md<'a>(seen: &'a crate::wire::ErrorSeen, key: &str) -> &'a str {
    seen.metadata.get(key).map(String::as_str).unwrap_or("")
}

async fn provoke(ctx: Ctx, spec: &'static ErrorReasonSpec) -> CaseResult {
    let corr = ctx.correlation("error");
    let unknown_job = format!("job-{}", hex32(ctx.seed));
    match spec.reason {
        Reason::InvalidArgument => {
            let r = ctx.wire.status("", &corr).await;
            let seen = expect_error(r, spec.name, Some(&corr), "GetJobStatus with an empty job_id")?;
            ensure!(
                md(&seen, "field").contains("job_id"),
                "metadata field is {:?}, expected the path job_id",
                md(&seen, "field")
            );
            // Each malformed field of SkillExecute and CancelJob, one at a
            // time, named in `field`.
            let base = || pb::SkillExecuteRequest {
                correlation_id: corr.clone(),
                skill_id: contract::CONFORMANCE_SKILL_ID.into(),
                input_json: Script::default().to_input(),
                ..Default::default()
            };
            let bad: [(&str, pb::SkillExecuteRequest); 4] = [
                ("skill_id", pb::SkillExecuteRequest { skill_id: String::new(), ..base() }),
                ("idempotency_key", pb::SkillExecuteRequest { idempotency_key: "not a key!".into(), ..base() }),
                ("idempotency_key", pb::SkillExecuteRequest { idempotency_key: "k".repeat(129), ..base() }),
                (
                    "labels",
                    pb::SkillExecuteRequest {
                        labels: [("Not-Lowercase".to_string(), "v".to_string())].into(),
                        ..base()
                    },
                ),
            ];
            for (field, req) in bad {
                let seen = expect_error(
                    ctx.wire.execute(req).await,
                    spec.name,
                    Some(&corr),
                    &format!("SkillExecute with a malformed {field}"),
                )?;
                ensure!(
                    md(&seen, "field").contains(field),
                    "metadata field is {:?}, expected the path {field}",
                    md(&seen, "field")
                );
            }
            let long = "r".repeat(1025);
            let seen = expect_error(
                ctx.wire.cancel(&unknown_job, &corr, &long).await,
                spec.name,
                Some(&corr),
                "CancelJob with a 1025-character reason",
            )?;
            ensure!(
                md(&seen, "field").contains("reason"),
                "metadata field is {:?}, expected the path reason",
                md(&seen, "field")
            );
            Ok(())
        }
        Reason::InvalidSkillInput => {
            let bad = r#"{"steps":[{"progress":{"percent":101}},{"sleep":{"millis":-1}}]}"#;
            let mut req = ctx.request(&Script::default(), &corr);
            req.input_json = bad.into();
            let seen = expect_error(
                ctx.wire.execute(req.clone()).await,
                spec.name,
                Some(&corr),
                "SkillExecute with a script that breaks its schema",
            )?;
            ensure!(md(&seen, "skillId") == contract::CONFORMANCE_SKILL_ID, "skillId is {:?}", md(&seen, "skillId"));
            ensure!(
                md(&seen, "violationCount") == seen.violations.len().to_string(),
                "violationCount {:?} but the BadRequest names {} violations",
                md(&seen, "violationCount"),
                seen.violations.len()
            );
            ensure!(
                seen.violations.iter().all(|(f, _)| f.starts_with("input_json")),
                "BadRequest field paths {:?} do not all start with input_json",
                seen.violations
            );
            // Each field path is `input_json` followed by the JSON Pointer of
            // the offending value, one violation per problem.
            for pointer in ["/steps/0/progress/percent", "/steps/1/sleep/millis"] {
                let field = format!("input_json{pointer}");
                ensure!(
                    seen.violations.iter().any(|(f, _)| *f == field),
                    "no BadRequest violation names {field}: {:?}",
                    seen.violations
                );
            }
            req.input_json = "{\"steps\": [".into();
            expect_error(
                ctx.wire.execute(req.clone()).await,
                spec.name,
                Some(&corr),
                "SkillExecute with input that is not JSON",
            )?;
            req.input_json = String::new();
            expect_error(ctx.wire.execute(req).await, spec.name, Some(&corr), "SkillExecute with an empty input_json")?;
            Ok(())
        }
        Reason::SkillNotFound => {
            let mut req = ctx.request(&Script::default(), &corr);
            req.skill_id = "dome.conformance.absent".into();
            let seen = expect_error(
                ctx.wire.execute(req.clone()).await,
                spec.name,
                Some(&corr),
                "SkillExecute of an unknown skill",
            )?;
            ensure!(md(&seen, "skillId") == "dome.conformance.absent", "skillId is {:?}", md(&seen, "skillId"));
            ensure!(
                md(&seen, "skillVersion").is_empty(),
                "skillVersion is {:?}, expected empty (none was requested)",
                md(&seen, "skillVersion")
            );
            req.skill_id = contract::CONFORMANCE_SKILL_ID.into();
            req.skill_version = "999.0.0".into();
            let seen = expect_error(
                ctx.wire.execute(req).await,
                spec.name,
                Some(&corr),
                "SkillExecute of an unknown version",
            )?;
            ensure!(
                md(&seen, "skillVersion") == "999.0.0",
                "skillVersion is {:?}, expected 999.0.0",
                md(&seen, "skillVersion")
            );
            Ok(())
        }
        Reason::JobNotFound => {
            let seen = expect_error(
                ctx.wire.status(&unknown_job, &corr).await,
                spec.name,
                Some(&corr),
                "GetJobStatus of an unknown job",
            )?;
            ensure!(md(&seen, "jobId") == unknown_job, "jobId is {:?}, expected {unknown_job}", md(&seen, "jobId"));
            expect_error(
                ctx.wire.cancel(&unknown_job, &corr, "").await,
                spec.name,
                Some(&corr),
                "CancelJob of an unknown job",
            )?;
            let e = stream_error(&ctx, &unknown_job, 0).await?;
            expect_error::<()>(Err(e), spec.name, None, "StreamJobEvents of an unknown job")?;
            Ok(())
        }
        Reason::DecisionNotFound => {
            let job = ctx.submit(&Script::new(vec![Step::Succeed { output: None }])).await?;
            ctx.finish(&job).await?;
            let run_id = job.facts.run_id.clone();
            let r = ctx
                .wire
                .gate(pb::GetGateDecisionRequest {
                    correlation_id: corr.clone(),
                    run_id: run_id.clone(),
                    task_id: String::new(),
                })
                .await;
            let seen = expect_error(r, spec.name, Some(&corr), "GetGateDecision of a run without decisions")?;
            ensure!(
                md(&seen, "runId") == run_id && md(&seen, "decisionKind") == "gate" && md(&seen, "taskId").is_empty(),
                "metadata {:?}, expected runId {run_id}, decisionKind gate, taskId empty",
                seen.metadata
            );
            let r = ctx
                .wire
                .gate(pb::GetGateDecisionRequest {
                    correlation_id: corr.clone(),
                    run_id: run_id.clone(),
                    task_id: job.facts.job_id.clone(),
                })
                .await;
            let seen = expect_error(r, spec.name, Some(&corr), "GetGateDecision of a task without decisions")?;
            ensure!(md(&seen, "taskId") == job.facts.job_id, "taskId is {:?}", md(&seen, "taskId"));
            let r = ctx
                .wire
                .promotion(pb::GetPromotionDecisionRequest { correlation_id: corr.clone(), run_id: run_id.clone() })
                .await;
            let seen = expect_error(r, spec.name, Some(&corr), "GetPromotionDecision of a run without decisions")?;
            ensure!(md(&seen, "decisionKind") == "promotion", "decisionKind is {:?}", md(&seen, "decisionKind"));
            Ok(())
        }
        Reason::IdempotencyKeyConflict => {
            let key = format!("conflict-{}", &hex32(ctx.seed ^ 7)[..16]);
            let mut first = ctx.request(&Script::default(), &ctx.correlation("first"));
            first.idempotency_key = key.clone();
            let created = ctx.execute(first.clone()).await?;
            let job_id = created.job.map(|j| j.job_id).unwrap_or_default();
            let mut other_input = first.clone();
            other_input.correlation_id = corr.clone();
            other_input.input_json = Script::new(vec![Step::Succeed { output: Some(serde_json::json!(1)) }]).to_input();
            let seen = expect_error(
                ctx.wire.execute(other_input).await,
                spec.name,
                Some(&corr),
                "SkillExecute reusing a key with another input",
            )?;
            ensure!(
                md(&seen, "idempotencyKey") == key && md(&seen, "jobId") == job_id,
                "metadata {:?}, expected idempotencyKey {key} and jobId {job_id}",
                seen.metadata
            );
            let mut other_labels = first.clone();
            other_labels.labels.insert("variant".into(), "b".into());
            expect_error(
                ctx.wire.execute(other_labels).await,
                spec.name,
                None,
                "SkillExecute reusing a key with other labels",
            )?;
            let mut other_ref = first.clone();
            other_ref.base_ref = "refs/heads/other".into();
            expect_error(
                ctx.wire.execute(other_ref).await,
                spec.name,
                None,
                "SkillExecute reusing a key with another base_ref",
            )?;
            // Fields are compared as sent: the values an empty field
            // resolves to are still different requests.
            let mut head = first.clone();
            head.base_ref = "HEAD".into();
            expect_error(
                ctx.wire.execute(head).await,
                spec.name,
                None,
                "SkillExecute reusing a key with base_ref HEAD where the first sent none",
            )?;
            let mut version = first;
            version.skill_version = contract::CONFORMANCE_SKILL_VERSION.into();
            expect_error(
                ctx.wire.execute(version).await,
                spec.name,
                None,
                "SkillExecute reusing a key with skill_version 1.0.0 where the first sent none",
            )?;
            Ok(())
        }
        Reason::CursorAheadOfHead => {
            let job = ctx.submit(&Script::new(vec![Step::Progress { percent: 5, message: None }])).await?;
            let (events, _) = ctx.finish(&job).await?;
            let last = events.len() as u64;
            let e = stream_error(&ctx, &job.facts.job_id, last + 1).await?;
            let seen = expect_error::<()>(Err(e), spec.name, None, "StreamJobEvents after last_sequence + 1")?;
            ensure!(
                md(&seen, "jobId") == job.facts.job_id
                    && md(&seen, "afterSequence") == (last + 1).to_string()
                    && md(&seen, "lastSequence") == last.to_string(),
                "metadata {:?}, expected jobId {}, afterSequence {}, lastSequence {last}",
                seen.metadata,
                job.facts.job_id,
                last + 1
            );
            Ok(())
        }
        Reason::CursorExpired => {
            let retained = ctx.limits().max_events_retained_per_job;
            if retained == 0 {
                return skip("the server sets no max_events_retained_per_job, so no cursor can expire");
            }
            if retained > 20_000 {
                return skip(&format!(
                    "max_events_retained_per_job is {retained}; overflowing it takes more events than this suite emits in one case (at most 20000)"
                ));
            }
            let count = (retained + 10) as u32;
            let job = ctx.submit(&Script::new(vec![Step::Bulk { count }])).await?;
            let last = await_end(&ctx, &job.facts.job_id).await?;
            let e = stream_error(&ctx, &job.facts.job_id, 0).await?;
            let seen = expect_error::<()>(
                Err(e),
                spec.name,
                None,
                "StreamJobEvents from 0 after the job's first events were dropped",
            )?;
            let first: u64 = md(&seen, "firstRetainedSequence").parse().unwrap_or(0);
            ensure!(
                first > 1 && first <= last && md(&seen, "afterSequence") == "0",
                "metadata {:?}: firstRetainedSequence must lie in 2..={last} and afterSequence be 0",
                seen.metadata
            );
            let tail = ctx.wire.collect(&job.facts.job_id, first - 1).await?;
            ensure!(
                tail.first().map(|e| e.sequence) == Some(first) && tail.len() as u64 == last - first + 1,
                "streaming from firstRetainedSequence - 1 = {} gave {} events starting at {:?}, expected {first}..={last}",
                first - 1,
                tail.len(),
                tail.first().map(|e| e.sequence)
            );
            Ok(())
        }
        Reason::UnsupportedApiVersion => {
            let r = ctx
                .wire
                .capabilities(pb::ListCapabilitiesRequest {
                    correlation_id: corr.clone(),
                    api_version: "v0-unserved".into(),
                })
                .await;
            let seen = expect_error(r, spec.name, Some(&corr), "ListCapabilities with api_version v0-unserved")?;
            ensure!(
                md(&seen, "requestedVersion") == "v0-unserved",
                "requestedVersion is {:?}",
                md(&seen, "requestedVersion")
            );
            let served = ctx.caps.api_versions.join(",");
            ensure!(
                md(&seen, "supportedVersions") == served,
                "supportedVersions is {:?}, expected {served:?}",
                md(&seen, "supportedVersions")
            );
            Ok(())
        }
        Reason::FeatureNotEnabled => {
            if ctx.has_feature(contract::CONFORMANCE_FEATURE) {
                return skip(
                    "the server enables the only feature a request can need (it advertises dome.conformance.v1)",
                );
            }
            let r = ctx.wire.execute(ctx.request(&Script::default(), &corr)).await;
            let seen = expect_error(
                r,
                spec.name,
                Some(&corr),
                "SkillExecute of the conformance skill without the conformance profile",
            )?;
            ensure!(md(&seen, "feature") == contract::CONFORMANCE_FEATURE, "feature is {:?}", md(&seen, "feature"));
            Ok(())
        }
        Reason::QueueFull => queue_full(&ctx, &corr).await,
        Reason::LimitExceeded => {
            let limits = ctx.limits();
            let max = limits.max_input_bytes;
            if max == 0 {
                return skip("the server sets no max_input_bytes");
            }
            if max > 8 * 1024 * 1024 {
                return skip(&format!("max_input_bytes is {max}; the suite sends at most 8 MiB"));
            }
            let mut input = Script::default().to_input();
            input.push_str(&" ".repeat((max as usize + 1).saturating_sub(input.len())));
            let mut req = ctx.request(&Script::default(), &corr);
            req.input_json = input;
            let seen = expect_error(
                ctx.wire.execute(req).await,
                spec.name,
                Some(&corr),
                "SkillExecute with input one byte over max_input_bytes",
            )?;
            let (limit, value) = (md(&seen, "limit"), md(&seen, "limitValue"));
            let ok = (limit == "max_input_bytes" && value == max.to_string())
                || (limit == "max_request_bytes" && value == limits.max_request_bytes.to_string());
            ensure!(
                ok,
                "limit {limit:?} = {value:?}, expected max_input_bytes = {max} (or max_request_bytes as advertised)"
            );
            too_many_subscribers(&ctx).await
        }
        Reason::Unauthenticated => {
            if !ctx.has_feature(contract::FEATURE_AUTH_BEARER) {
                return skip("the server does not advertise dome.auth.bearer, so it requires no credentials");
            }
            let r = ctx
                .wire
                .capabilities_with_headers(
                    pb::ListCapabilitiesRequest { correlation_id: corr.clone(), api_version: String::new() },
                    &[],
                    true,
                )
                .await;
            expect_error(r, spec.name, Some(&corr), "ListCapabilities without credentials")?;
            let r = ctx
                .wire
                .capabilities_with_headers(
                    pb::ListCapabilitiesRequest { correlation_id: corr.clone(), api_version: String::new() },
                    &[("authorization", "Bearer not-the-token")],
                    true,
                )
                .await;
            expect_error(r, spec.name, Some(&corr), "ListCapabilities with a wrong token")?;
            Ok(())
        }
        Reason::SubscriberLagged => subscriber_lagged(&ctx).await,
        Reason::PermissionDenied => skip(
            "no call of the contract lets a client provoke it on purpose (it depends on the server's authorization policy)",
        ),
        Reason::ShuttingDown => skip("it needs the server to shut down while the suite runs"),
        Reason::Internal => skip("a conforming server breaks no invariant on request"),
        Reason::Unimplemented => {
            let path = "/dome.gateway.v1.GatewayService/NoSuchMethod";
            let seen = expect_error(ctx.wire.call_unknown(path).await, spec.name, None, "a method the service lacks")?;
            ensure!(md(&seen, "method") == path, "method is {:?}, expected {path}", md(&seen, "method"));
            let path = "/dome.nowhere.v1.NoSuchService/Call";
            let seen = expect_error(ctx.wire.call_unknown(path).await, spec.name, None, "a service the server lacks")?;
            ensure!(md(&seen, "method") == path, "method is {:?}, expected {path}", md(&seen, "method"));
            Ok(())
        }
        Reason::Unspecified => skip("the zero value is never sent"),
    }
}

/// Waits for a job's end by following its log from a cursor near the head
/// (retrying when retention moves past the cursor); returns its
/// `last_sequence`.
pub(super) async fn await_end(ctx: &Ctx, job_id: &str) -> Result<u64, Stop> {
    loop {
        let j = ctx.wire.status(job_id, "").await?.job.unwrap_or_default();
        if crate::model::is_terminal(pb::JobState::try_from(j.state).unwrap_or_default()) {
            return Ok(j.last_sequence);
        }
        match ctx.wire.collect(job_id, j.last_sequence.saturating_sub(1)).await {
            Ok(_) | Err(RpcError::Status(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// A subscriber that stops reading while its job appends far more events
/// than `max_subscriber_lag_events` (and than the transport can buffer,
/// on a connection of its own with a small flow-control window) must be
/// ended with `SUBSCRIBER_LAGGED` naming the last event it was sent.
async fn subscriber_lagged(ctx: &Ctx) -> CaseResult {
    const WINDOW: u32 = 64 * 1024;
    let max_lag = ctx.limits().max_subscriber_lag_events;
    if max_lag == 0 {
        return skip("the server sets no max_subscriber_lag_events, so no subscriber can lag");
    }
    if max_lag > 40_000 {
        return skip(&format!(
            "max_subscriber_lag_events is {max_lag}; overflowing it takes more events than one bulk step emits"
        ));
    }
    let count = (max_lag + 30_000) as u32;
    let stalled_wire =
        ctx.wire.isolated(WINDOW).await.map_err(|e| Stop::Fail(format!("a second connection failed: {e}")))?;
    // The sleep lets the subscription begin before the bulk, so that the
    // bulk counts as lag rather than as replay backlog. How long that takes
    // is the machine's business, not the contract's: when the subscription
    // came so late that its cursor had already left retention (a correct
    // CURSOR_EXPIRED before any event), the case starts over with a longer
    // sleep instead of failing a slow but correct server.
    let mut sleep_ms = 300;
    let (job, mut stalled, last, mut first) = loop {
        let script = Script::new(vec![Step::Sleep { millis: sleep_ms }, Step::Bulk { count }]);
        let job = ctx.submit(&script).await?;
        let opened = stalled_wire.stream(&job.facts.job_id, 0).await;
        let last = await_end(ctx, &job.facts.job_id).await?;
        let (stalled, first) = match opened {
            Ok(mut s) => {
                let first = s.next().await;
                (Some(s), first)
            }
            Err(e) => (None, Err(e)),
        };
        let late =
            matches!(&first, Err(RpcError::Status(s)) if crate::wire::check_error(s, "CURSOR_EXPIRED", None).is_ok());
        if late && sleep_ms < 4_800 {
            sleep_ms *= 2;
            continue;
        }
        break (job, stalled, last, Some(first));
    };
    let mut got: Vec<pb::JobEvent> = Vec::new();
    let status = loop {
        let next = match (first.take(), stalled.as_mut()) {
            (Some(r), _) => r,
            (None, Some(s)) => s.next().await,
            (None, None) => Ok(None),
        };
        match next {
            Ok(Some(e)) => {
                // Whatever the server decides, what it sent is gapless and
                // in order: it ends a lagging stream, never skips events.
                let want = got.len() as u64 + 1;
                ensure!(
                    e.sequence == want,
                    "the stalled subscriber received event {} after {} events (sequence {want} was due): the server skipped events instead of ending the stream with SUBSCRIBER_LAGGED",
                    e.sequence,
                    got.len()
                );
                got.push(e);
            }
            Ok(None) => {
                // The server kept up with the subscriber (the bulk may have
                // become replay backlog, which never lags): then every
                // event came, in order, the terminal one last.
                ensure!(
                    got.len() as u64 == last && got.last().is_some_and(dome_sdk::is_terminal_event),
                    "the stalled subscriber's stream closed with OK after {} events; the log holds {last}, ending with the terminal event",
                    got.len()
                );
                return Ok(());
            }
            Err(RpcError::Status(s)) => break s,
            Err(e) => return Err(e.into()),
        }
    };
    let seen =
        expect_error::<()>(Err(RpcError::Status(status)), "SUBSCRIBER_LAGGED", None, "the stalled StreamJobEvents")?;
    let resume = got.last().map(|e| e.sequence).unwrap_or(0);
    ensure!(
        md(&seen, "resumeAfterSequence") == resume.to_string() && md(&seen, "jobId") == job.facts.job_id,
        "metadata {:?}, expected resumeAfterSequence {resume} (the last event sent) and jobId {}",
        seen.metadata,
        job.facts.job_id
    );
    // Resuming where the error says continues without a gap, unless the
    // next events have left retention, which is CURSOR_EXPIRED.
    match ctx.wire.stream(&job.facts.job_id, resume).await {
        Ok(mut s) => match s.next().await {
            Ok(Some(e)) => ensure!(e.sequence == resume + 1, "resuming after {resume} began with event {}", e.sequence),
            Ok(None) => ensure!(resume == last, "resuming after {resume} closed at once, but the log runs to {last}"),
            Err(RpcError::Status(s)) => {
                expect_error::<()>(
                    Err(RpcError::Status(s)),
                    "CURSOR_EXPIRED",
                    None,
                    "resuming after resumeAfterSequence",
                )?;
            }
            Err(e) => return Err(e.into()),
        },
        Err(RpcError::Status(s)) => {
            expect_error::<()>(Err(RpcError::Status(s)), "CURSOR_EXPIRED", None, "resuming after resumeAfterSequence")?;
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// With `max_subscribers_per_job` streams open on a job, one more is
/// `LIMIT_EXCEEDED` naming that limit (checked when the limit is small
/// enough to reach: at most 256 streams).
async fn too_many_subscribers(ctx: &Ctx) -> CaseResult {
    let max = ctx.limits().max_subscribers_per_job;
    if max == 0 || max > 256 {
        return Ok(());
    }
    let mut job = ctx.submit(&parked("watched")).await?;
    let mut open = Vec::new();
    for _ in 0..max {
        let mut s = ctx.wire.stream(&job.facts.job_id, 0).await?;
        // The first event proves the stream holds its slot.
        ensure!(s.next().await?.is_some(), "a stream of the parked job closed at once");
        open.push(s);
    }
    let e = stream_error(ctx, &job.facts.job_id, 0).await?;
    let seen = expect_error::<()>(Err(e), "LIMIT_EXCEEDED", None, "StreamJobEvents beyond max_subscribers_per_job")?;
    ensure!(
        md(&seen, "limit") == "max_subscribers_per_job" && md(&seen, "limitValue") == max.to_string(),
        "metadata {:?}, expected limit max_subscribers_per_job = {max}",
        seen.metadata
    );
    drop(open);
    ctx.cancel(&mut job.facts, None).await?;
    Ok(())
}

async fn queue_full(ctx: &Ctx, corr: &str) -> CaseResult {
    let l = ctx.limits();
    if l.queue_capacity == 0 || l.max_running_jobs == 0 {
        return skip("the server sets no queue_capacity or no max_running_jobs, so its queue cannot be filled");
    }
    if l.queue_capacity + l.max_running_jobs > 2048 {
        return skip(&format!(
            "filling {} workers and {} queue slots takes more jobs than this suite submits in one case (at most 2048)",
            l.max_running_jobs, l.queue_capacity
        ));
    }
    // Occupy every worker with a parked job, then fill the queue.
    let mut holders = Vec::new();
    for _ in 0..l.max_running_jobs {
        holders.push(ctx.submit(&parked("holding a worker")).await?);
    }
    for h in &holders {
        super::wait_for_log(ctx, &h.facts.job_id).await?;
    }
    for i in 0..l.queue_capacity {
        let r = ctx.wire.execute(ctx.request(&parked("waiting"), &ctx.correlation("fill"))).await;
        match r {
            Ok(resp) => {
                if let Some(j) = resp.job {
                    ctx.track(&j.job_id);
                }
            }
            Err(e) => return Err(Stop::Fail(format!("submitting queued job {} of {}: {e}", i + 1, l.queue_capacity))),
        }
    }
    let r = ctx.wire.execute(ctx.request(&parked("one too many"), corr)).await;
    if let Ok(resp) = &r
        && let Some(j) = &resp.job
    {
        ctx.track(&j.job_id);
    }
    let seen = expect_error(r, "QUEUE_FULL", Some(corr), "SkillExecute with every worker busy and the queue full")?;
    ensure!(
        md(&seen, "queueCapacity") == l.queue_capacity.to_string(),
        "queueCapacity is {:?}, the server advertises {}",
        md(&seen, "queueCapacity"),
        l.queue_capacity
    );
    Ok(())
}

async fn policy_codes_are_data(ctx: Ctx) -> CaseResult {
    let script = Script::new(vec![
        Step::GateDecision(crate::script::GateStep {
            status: crate::script::Decision::Reject,
            reason_codes: vec!["VERIFY.TEST_FAILURE".into()],
            substrate_status: None,
            confidence: None,
            risk_score: None,
            notes: vec![],
            telemetry: None,
        }),
        Step::Fail { reason_code: "EXEC.NONZERO_EXIT".into(), message: Some("exit 2".into()), transient: Some(true) },
    ]);
    let job = ctx.submit(&script).await?;
    let (events, summary) = ctx.finish(&job).await?;
    ensure!(summary.terminal == pb::JobState::Failed, "the job ended {}", summary.terminal.as_str_name());
    let status = ctx.wire.status(&job.facts.job_id, "").await?;
    let outcome = status.job.and_then(|j| j.outcome).unwrap_or_default();
    ensure!(
        outcome.reason_code == "EXEC.NONZERO_EXIT" && outcome.status == pb::TaskStatus::Fail as i32,
        "GetJobStatus outcome {outcome:?}, expected FAIL with EXEC.NONZERO_EXIT"
    );
    let again = ctx.wire.collect(&job.facts.job_id, 0).await?;
    ensure!(again == events, "replaying the failed job's log gave different events");
    Ok(())
}

/// 32 lowercase hex digits derived from a number (ids that exist nowhere).
fn hex32(x: u64) -> String {
    format!("{:016x}{:016x}", x.rotate_left(17) ^ 0xdead_beef_0bad_f00d, x)
}
