//! The workers: the queue of jobs waiting to run, and the tasks that take
//! them from it one after another and run them ([`crate::script`]).
//!
//! The store decides which jobs exist and in what state; the workers only
//! start queued jobs and run them to their end, so the store never calls
//! into what a skill does.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::config::limit;
use crate::errors::ApiError;
use crate::store::{JobEntry, Store, Submission, Submitted, lock};

/// The queue of jobs and the workers taking jobs from it.
#[derive(Debug)]
pub(crate) struct Workers {
    store: Arc<Store>,
    /// A lock of its own, so that starting jobs never waits on the
    /// store's tables.
    queue: Mutex<Queue>,
}

#[derive(Debug, Default)]
struct Queue {
    jobs: VecDeque<Arc<JobEntry>>,
    /// Worker tasks alive; each runs queued jobs one after another until
    /// the queue is empty (at most `max_running_jobs` of them).
    workers: u64,
}

impl Workers {
    /// The workers of `store`, none running yet.
    pub(crate) fn new(store: Arc<Store>) -> Arc<Self> {
        Arc::new(Self { store, queue: Mutex::default() })
    }

    /// Submits a job to the store and queues it when it was created.
    pub(crate) fn submit(self: &Arc<Self>, sub: Submission) -> Result<Submitted, ApiError> {
        let submitted = self.store.submit(sub)?;
        if submitted.created {
            self.enqueue(submitted.entry.clone());
        }
        Ok(submitted)
    }

    /// Queues an admitted job, and starts a worker for it when fewer than
    /// `max_running_jobs` are alive. A worker runs jobs one after another
    /// while the queue holds any, so a busy server starts no task per job,
    /// and a job never waits for another task to notice it.
    fn enqueue(self: &Arc<Self>, entry: Arc<JobEntry>) {
        let mut queue = lock(&self.queue);
        queue.jobs.push_back(entry);
        if limit(self.store.limits.max_running_jobs).is_some_and(|max| queue.workers >= max) {
            return;
        }
        queue.workers += 1;
        drop(queue);
        tokio::spawn(self.clone().work());
    }

    /// One worker: runs queued jobs until there are none left to start.
    async fn work(self: Arc<Self>) {
        loop {
            // A slow server (a test knob): the job stays queued a while.
            self.store.faults.step_delay().await;
            let Some(job) = self.next_to_start() else { break };
            crate::script::execute(&self.store, job).await;
        }
    }

    /// Takes the next queued job and marks it `RUNNING`; `None` (and the
    /// calling worker stops) when none is left to start, or the server is
    /// shutting down.
    fn next_to_start(&self) -> Option<Arc<JobEntry>> {
        loop {
            let entry = {
                let mut queue = lock(&self.queue);
                match queue.jobs.pop_front() {
                    Some(entry) if !self.store.shutting_down() => entry,
                    _ => {
                        queue.workers -= 1;
                        return None;
                    }
                }
            };
            if entry.start() {
                self.store.left_queue();
                return Some(entry);
            }
        }
    }
}
