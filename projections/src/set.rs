//! Running many projections as tasks of one process.

use std::collections::HashSet;
use std::sync::Arc;

use crm_eventlog::EventLog;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::ProjectionError;
use crate::projection::Projection;
use crate::runner::{Runner, RunnerConfig};
use crate::shared_feed::SharedFeed;

/// The projections one process runs, each in a task of its own (active, or standby
/// when another process holds its lock). A failing projection stops alone.
pub struct ProjectorSet {
    log: EventLog,
    config: RunnerConfig,
    projections: Vec<Arc<dyn Projection>>,
    custom: bool,
}

impl ProjectorSet {
    /// An empty set on `log`'s database, with the default runner configuration.
    pub fn new(log: EventLog) -> Self {
        ProjectorSet {
            log,
            config: RunnerConfig::default(),
            projections: Vec::new(),
            custom: false,
        }
    }

    /// The same set, its runners configured with `config`.
    pub fn with_config(mut self, config: RunnerConfig) -> Self {
        self.config = config;
        self
    }

    /// The same set with one more projection.
    pub fn with(mut self, projection: Arc<dyn Projection>) -> Self {
        self.projections.push(projection);
        self
    }

    /// The same set, also running the analysts' custom projections: a supervisor
    /// starts a runner for each generation the catalog (`custom_catalog`) calls for.
    pub fn with_custom_projections(mut self) -> Self {
        self.custom = true;
        self
    }

    /// Starts one task per projection. Must be called inside a tokio runtime.
    pub fn spawn(self) -> Result<RunningProjectors, ProjectionError> {
        let mut names = HashSet::new();
        for projection in &self.projections {
            if !names.insert(projection.name()) {
                return Err(ProjectionError::DuplicateName(projection.name().to_owned()));
            }
        }
        let (shutdown, receiver) = watch::channel(false);
        let feed = SharedFeed::new(self.log.clone());
        let mut tasks: Vec<(String, JoinHandle<()>)> = self
            .projections
            .into_iter()
            .map(|projection| {
                let name = projection.name().to_owned();
                let runner = Runner::new(self.log.clone(), projection)
                    .with_config(self.config.clone())
                    .with_shared_feed(feed.clone());
                (name, tokio::spawn(runner.run(receiver.clone())))
            })
            .collect();
        if self.custom {
            let supervisor = crate::custom::supervisor::run(
                self.log.clone(),
                self.config.clone(),
                feed.clone(),
                receiver.clone(),
            );
            tasks.push(("custom projections".to_owned(), tokio::spawn(supervisor)));
        }
        Ok(RunningProjectors { shutdown, tasks })
    }
}

/// The tasks of a started [`ProjectorSet`]. Dropping it also stops them (their
/// shutdown channel closes), without waiting.
pub struct RunningProjectors {
    shutdown: watch::Sender<bool>,
    tasks: Vec<(String, JoinHandle<()>)>,
}

impl RunningProjectors {
    /// The names of the projections running.
    pub fn names(&self) -> Vec<&str> {
        self.tasks.iter().map(|(name, _)| name.as_str()).collect()
    }

    /// Stops every runner at once, wherever it is (mid-batch included), as a crash
    /// would: their open transactions roll back, their locks go with their connections.
    pub async fn abort(self) {
        for (_, task) in self.tasks {
            task.abort();
            let _ = task.await;
        }
    }

    /// Asks every runner to stop after its current batch and waits until they have.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for (name, task) in self.tasks {
            if let Err(err) = task.await {
                tracing::warn!(projection = name, error = %err, "projection task ended abnormally");
            }
        }
    }
}
