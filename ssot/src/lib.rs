//! dome's SSOT families as the gateway contract sees them.
//!
//! The gateway contract (`dome.gateway.v1`) reuses six of dome's
//! "single source of truth" JSON-Schema families. This crate holds:
//!
//! - the six schemas (JSON Schema draft 2020-12), embedded from
//!   `ssot/schemas/<family>.schema.json`, and [`Family`] to name them;
//! - [`validate`] and [`validate_object`], backed by `jsonschema`
//!   validators compiled once per process;
//! - [`project`], the one place where a gateway message becomes family
//!   JSON, and [`SUBJECTS`], the one table of the messages it projects
//!   (which family each fills is the proto's `(ssot)` option);
//! - behind the `proptest` feature, `arbitrary`: strategies for
//!   contract-valid messages, used by `cargo xtask ssot` to check that every
//!   projection fits its family.
//!
//! ```
//! use dome_ssot::{Family, project_job_outcome, validate};
//! use dome_sdk::pb::{JobOutcome, TaskStatus};
//!
//! let outcome = JobOutcome {
//!     task_id: "job-00000000000000000000000000000001".into(),
//!     status: TaskStatus::Pass as i32,
//!     attempt: 1,
//!     ..JobOutcome::default()
//! };
//! assert_eq!(validate(Family::TaskResult, &project_job_outcome(&outcome)), Ok(()));
//! ```

#[cfg(feature = "proptest")]
pub mod arbitrary;
pub mod project;
mod schema;
mod subjects;

pub use project::{
    event_topic, format_timestamp, project_artifact, project_gate_decision, project_gate_decision_ref, project_job,
    project_job_event, project_job_outcome, project_promotion_decision, project_provenance, project_telemetry_ref,
};
pub use schema::{Family, Violation, compile_problems, schema_text, schema_version, validate, validate_object};
pub use subjects::{SUBJECTS, Subject, subject};
