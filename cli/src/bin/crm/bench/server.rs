//! The server's own memory under a benchmark's load (issue 19): the real `crm serve`
//! (this very binary, `std::env::current_exe`) started as a child process on the
//! benchmark's database, as users run it, and its resident memory read from
//! `/proc/<pid>/status`.
//!
//! The benchmarks' other figures come from a server in their own process, whose peak
//! memory mixes the server with the clients and the baselines; a child process is the
//! server alone. Its RSS at idle (`VmRSS` once it has started, caught up and gone
//! quiet) is the baseline; its peak under the load is `VmHWM`, reset (`clear_refs` 5)
//! after that idle reading, so the work of starting (projectors catching up, the
//! verifier's first walk, the first seals) is reported apart, as the peak at start.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use crm_eventlog::EventLog;
use sqlx::postgres::PgConnectOptions;
use sqlx::ConnectOptions;
use tokio::process::{Child, Command};

use super::api::HttpClient;
use super::measure::{mib, Measurement};

/// How long the child may take to answer `GET /health/live`.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// How long it may take to catch up and go quiet.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(1_800);

/// CPU time (clock ticks, 1/100 s on Linux) per second under which the child is idle.
const QUIET_TICKS: u64 = 2;

/// Consecutive quiet seconds that make it idle.
const QUIET_SECONDS: u32 = 3;

/// The longest wait for those quiet seconds once the server has caught up: a slow
/// machine or a debug build may never get under [`QUIET_TICKS`] with the server's
/// periodic work (feed checks, automation, webhooks), and that is its idle state.
const QUIET_WAIT: Duration = Duration::from_secs(60);

/// `crm serve` running as a child process, killed when dropped.
pub struct ChildServer {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    child: Child,
    pid: u32,
    spawned: chrono::DateTime<chrono::Utc>,
}

impl ChildServer {
    /// Starts `crm serve` on `target` on a free loopback port with the flags `extra`,
    /// and waits until it answers `GET /health/live`.
    pub async fn start(
        target: &PgConnectOptions,
        extra: &[String],
        http: &HttpClient,
    ) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("this program's path")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut command = Command::new(&exe);
        command
            // In the environment, not on the command line, where a password would show.
            .env("DATABASE_URL", target.to_url_lossy().as_str())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if std::env::var_os("RUST_LOG").is_none() {
            command.env("RUST_LOG", "warn");
        }
        let spawned = chrono::Utc::now();
        let child = command
            .spawn()
            .with_context(|| format!("starting {} serve", exe.display()))?;
        let pid = child.id().context("the child's pid")?;
        let mut server = ChildServer {
            base: format!("http://127.0.0.1:{port}"),
            child,
            pid,
            spawned,
        };
        let started = Instant::now();
        loop {
            if let Some(status) = server.child.try_wait()? {
                anyhow::bail!("crm serve ended at start: {status}");
            }
            let request = axum::http::Request::get(format!("{}/health/live", server.base))
                .body(axum::body::Body::empty())?;
            if let Ok(answer) = http.request(request).await {
                if answer.status().is_success() {
                    break;
                }
            }
            anyhow::ensure!(
                started.elapsed() < START_TIMEOUT,
                "crm serve did not answer within {} s",
                START_TIMEOUT.as_secs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        eprintln!(
            "crm serve (pid {pid}) answering after {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Ok(server)
    }

    /// Waits until the server is idle: its read models reflect the whole log of `log`,
    /// its verifier's first walk is stored, and it has used next to no CPU for
    /// [`QUIET_SECONDS`] seconds in a row (or [`QUIET_WAIT`] passed after it caught up, or
    /// [`SETTLE_TIMEOUT`] before: then says so).
    pub async fn settle(&mut self, log: &EventLog) -> anyhow::Result<()> {
        let started = Instant::now();
        if let Some(last) = log.last_position().await? {
            for projection in crm_projections::builtin() {
                crm_projections::wait_until_reflects(log, projection.name(), last, SETTLE_TIMEOUT)
                    .await
                    .with_context(|| format!("crm serve catching up {}", projection.name()))?;
            }
        }
        while log
            .last_verification()
            .await?
            .is_none_or(|v| v.finished_at < self.spawned)
        {
            if started.elapsed() > SETTLE_TIMEOUT {
                eprintln!("crm serve: no verification stored yet; going on");
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut quiet = 0;
        let mut before = self.cpu_ticks().context("the child's CPU time")?;
        let caught_up = Instant::now();
        while quiet < QUIET_SECONDS {
            if caught_up.elapsed() > QUIET_WAIT {
                eprintln!("crm serve: still busy after {QUIET_WAIT:?}; going on");
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = self.cpu_ticks().context("the child's CPU time")?;
            quiet = if now.saturating_sub(before) <= QUIET_TICKS {
                quiet + 1
            } else {
                0
            };
            before = now;
        }
        eprintln!(
            "crm serve idle after {:.1} s more",
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }

    /// A field of `/proc/<pid>/status` in kB (`VmRSS`, `VmHWM`), in MiB.
    fn status_mib(&self, field: &str) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        status_field_mib(&status, field)
    }

    /// User and system CPU time so far, in clock ticks (`/proc/<pid>/stat`).
    fn cpu_ticks(&self) -> Option<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).ok()?;
        // The fields after the command's name (in parentheses), from the state (3rd).
        let rest = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: u64 = fields.get(11)?.parse().ok()?;
        let stime: u64 = fields.get(12)?.parse().ok()?;
        Some(utime + stime)
    }

    /// Starts measuring the peak afresh; false when the kernel refused.
    fn reset_peak(&self) -> bool {
        std::fs::write(Path::new(&format!("/proc/{}/clear_refs", self.pid)), "5").is_ok()
    }

    /// Its memory at idle now, then under each load `f` runs (given this server's
    /// base URL), its peak reset before each; `f` returns the name of each phase and
    /// what it measured. Stops the server afterwards.
    pub async fn memory_under<F, Fut>(mut self, phases: usize, f: F) -> anyhow::Result<Memory>
    where
        F: Fn(usize, String) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<(String, Measurement)>>,
    {
        let idle = self.status_mib("VmRSS:");
        let at_start = self.status_mib("VmHWM:");
        let mut loads = Vec::with_capacity(phases);
        let mut reset = true;
        for phase in 0..phases {
            reset &= self.reset_peak();
            let (name, measured) = f(phase, self.base.clone()).await?;
            loads.push((name, measured, self.status_mib("VmHWM:")));
        }
        let pid = self.pid;
        self.child.kill().await?;
        Ok(Memory {
            pid,
            idle,
            at_start,
            loads,
            reset,
        })
    }
}

/// The value of `field` (`VmRSS:`) in a `/proc/<pid>/status` text, in MiB.
fn status_field_mib(status: &str, field: &str) -> Option<f64> {
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The memory of a `crm serve` child: at idle, at start, and its peak under each load.
#[derive(Debug)]
pub struct Memory {
    pid: u32,
    /// `VmRSS` at idle after start.
    idle: Option<f64>,
    /// `VmHWM` at idle after start: the peak of starting.
    at_start: Option<f64>,
    /// Each load: its name, what it measured, and `VmHWM` after it.
    loads: Vec<(String, Measurement, Option<f64>)>,
    /// Whether every peak was reset before its load (else each is the peak since start).
    reset: bool,
}

impl Memory {
    /// As Markdown: a sentence and a table.
    pub fn render(&self) -> String {
        let since = if self.reset {
            "reset before each load"
        } else {
            "could not be reset: the peak since start"
        };
        let mut out = format!(
            "Memory of the server alone: this binary's `crm serve` as a child process (pid {}) \
             on the same database, with its defaults (projectors, automation, sealer, \
             verifier), started, caught up and idle, then under the same load from this \
             process; its resident memory from `/proc/{}/status` (`VmHWM` {since}).\n\n\
             | `crm serve` under | RSS | ratio to idle | answers/s | p50 / p99 ms |\n\
             |---|---:|---:|---:|---:|\n\
             | server RSS at idle after start (`VmRSS`, the baseline) | {} | 100% | – | – |\n\
             | server peak RSS while starting (`VmHWM` at idle) | {} | {} | – | – |\n",
            self.pid,
            self.pid,
            mib(self.idle),
            mib(self.at_start),
            ratio(self.at_start, self.idle),
        );
        for (name, measured, peak) in &self.loads {
            out.push_str(&format!(
                "| server peak RSS under {name} | {} | {} | {:.0} | {:.2} / {:.2} |\n",
                mib(*peak),
                ratio(*peak, self.idle),
                measured.rate(),
                measured.p50.as_secs_f64() * 1000.0,
                measured.p99.as_secs_f64() * 1000.0,
            ));
        }
        out
    }
}

/// `value` as a percentage of `of`.
fn ratio(value: Option<f64>, of: Option<f64>) -> String {
    match (value, of) {
        (Some(v), Some(o)) if o > 0.0 => format!("{:.0}%", 100.0 * v / o),
        _ => "n/a".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_field_is_read_in_mib() {
        let status = "Name:\tcrm\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(status_field_mib(status, "VmHWM:"), Some(20.0));
        assert_eq!(status_field_mib(status, "VmRSS:"), Some(10.0));
        assert_eq!(status_field_mib(status, "VmSwap:"), None);
    }
}
