//! The bundled reference server, started in-process when no `--target` is
//! given: the run a newcomer makes first. With the `mutants` feature it
//! can be started as one of its deliberately broken variants.

use std::time::Duration;

use crate::error::Error;

/// The limits the embedded server runs with. They are the reference
/// server's defaults, narrowed so that every limit-driven case runs and
/// stays quick: a worker pool and queue small enough to fill, an event
/// retention small enough to expire a cursor, and a job retention small
/// enough to push a job out of it.
pub fn limits() -> domed::Limits {
    domed::Limits {
        queue_capacity: 64,
        max_running_jobs: 16,
        max_events_retained_per_job: 4_096,
        max_jobs_retained: 250,
        max_subscribers_per_job: 32,
        idempotency_window: Duration::from_secs(3600),
        ..domed::Limits::default()
    }
}

/// The names of the mutants the embedded server can run as (empty
/// without the `mutants` feature).
pub fn mutant_ids() -> Vec<&'static str> {
    #[cfg(feature = "mutants")]
    {
        domed::Mutant::ALL.iter().map(|m| m.id()).collect()
    }
    #[cfg(not(feature = "mutants"))]
    {
        Vec::new()
    }
}

/// Starts the reference server on `127.0.0.1:0`, as `mutant` when one is
/// named.
pub async fn start(mutant: Option<&str>) -> Result<domed::Running, Error> {
    #[allow(unused_mut)]
    let mut config = domed::Config { limits: limits(), conformance: true, ..domed::Config::default() };
    match mutant {
        None => {}
        #[cfg(feature = "mutants")]
        Some(name) => {
            let m: domed::Mutant = name.parse().map_err(|e: domed::UnknownMutant| Error::usage(e.to_string()))?;
            config.mutant = Some(m);
        }
        #[cfg(not(feature = "mutants"))]
        Some(name) => {
            return Err(Error::usage(format!(
                "--mutant {name} needs the suite built with the `mutants` feature (cargo xtask conformance adds it when --mutant is given)"
            )));
        }
    }
    domed::start(config).await.map_err(|e| Error::embedded(e.to_string()))
}
