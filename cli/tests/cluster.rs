//! The real `crm` binary on its private PostgreSQL cluster (no DATABASE_URL): run as
//! root from a folder the `postgres` OS user cannot reach, it keeps the cluster under
//! /var/lib/crm and finds it again; `crm` processes share one cluster, which stays up
//! until the last of them ends, and one started by hand is never stopped; logs written
//! to a file carry no colour codes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use crate::common::{free_port, http, terminate, wait_healthy, wait_until};
use crm_cli::embedded::location::{POINTER_FILE, RELOCATED_ROOT};
use tokio::process::{Child, Command};

/// `crm <args>` in `cwd` on its private cluster: none of the test's own database
/// settings reach it.
fn crm_command(cwd: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_crm"));
    command
        .args(args)
        .current_dir(cwd)
        .env_remove("DATABASE_URL")
        .env_remove("CRM_DATA_DIR")
        .env_remove("CRM_CLUSTER_DIR")
        .env_remove("CRM_BOOTSTRAP_TOKEN")
        .env("RUST_LOG", "info,sqlx=warn")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

/// Runs `crm <args>` in `cwd` to its end; its output once it succeeded.
async fn crm_ok(cwd: &Path, args: &[&str]) -> Output {
    let output = crm_command(cwd, args).output().await.unwrap();
    assert!(output.status.success(), "crm {args:?}: {output:?}");
    output
}

/// Starts `crm <args>` in `cwd`, its standard output and error going to files `<name>.out`
/// and `<name>.log` in `logs` (files, not terminals: no colours belong there).
fn spawn_crm(cwd: &Path, args: &[&str], logs: &Path, name: &str) -> Child {
    let out = std::fs::File::create(logs.join(format!("{name}.out"))).unwrap();
    let err = std::fs::File::create(logs.join(format!("{name}.log"))).unwrap();
    crm_command(cwd, args)
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("the crm binary")
}

/// The folder holding the cluster of `data_dir`: the one its pointer file names, else
/// the data folder itself.
fn cluster_dir_of(data_dir: &Path) -> PathBuf {
    match std::fs::read_to_string(data_dir.join(POINTER_FILE)) {
        Ok(pointer) => PathBuf::from(pointer.trim_end()),
        Err(_) => data_dir.to_path_buf(),
    }
}

/// The pid of the PostgreSQL server running on the cluster in `cluster_dir`, if any.
fn postmaster(cluster_dir: &Path) -> Option<u32> {
    let pid_file = std::fs::read_to_string(cluster_dir.join("pgdata/postmaster.pid")).ok()?;
    pid_file.lines().next()?.trim().parse().ok()
}

/// Ends the last `crm` process using the cluster in `cluster_dir`: it exits cleanly,
/// having stopped PostgreSQL.
async fn end_last(crm: &mut Child, cluster_dir: &Path) {
    let exit = terminate(crm).await;
    assert!(exit.success(), "{exit:?}");
    assert_eq!(postmaster(cluster_dir), None, "PostgreSQL stopped on exit");
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

/// A scratch folder with a data folder in it; dropping it (also when the test fails)
/// stops the data folder's PostgreSQL and removes the scratch folder and the cluster's
/// folder, wherever it is.
struct Scratch {
    root: PathBuf,
    data_dir: PathBuf,
}

impl Scratch {
    /// `/tmp/<prefix>-<random>` with the given permissions; the data folder `.crm` of
    /// the "clone" folder in it.
    fn new(prefix: &str, mode: u32) -> Scratch {
        let root = PathBuf::from(format!("/tmp/{prefix}-{}", uuid::Uuid::new_v4().simple()));
        let clone = root.join("clone");
        std::fs::create_dir_all(&clone).unwrap();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(mode)).unwrap();
        Scratch {
            data_dir: clone.join(".crm"),
            root,
        }
    }

    fn clone_dir(&self) -> PathBuf {
        self.root.join("clone")
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.root.join(name)).unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let cluster_dir = cluster_dir_of(&self.data_dir);
        if let Some(pid) = postmaster(&cluster_dir) {
            // SIGINT: PostgreSQL's fast shutdown.
            let _ = std::process::Command::new("kill")
                .args(["-INT", &pid.to_string()])
                .status();
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while postmaster(&cluster_dir).is_some() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        if !cluster_dir.starts_with(&self.root) {
            let _ = std::fs::remove_dir_all(&cluster_dir);
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_root_from_a_folder_postgres_cannot_reach_the_cluster_lives_in_var_lib_crm() {
    if !is_root() {
        eprintln!("skipped: only root runs PostgreSQL as another OS user, which this is about");
        return;
    }
    // A clone under a folder like /root: mode 700, so the `postgres` user cannot get in.
    let scratch = Scratch::new("crm-home", 0o700);
    let clone = scratch.clone_dir();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let serve = ["serve", "--listen", &listen, "--seal-interval", "0"];

    let mut first = spawn_crm(&clone, &serve, &scratch.root, "first");
    wait_healthy(port).await;
    let cluster_dir = cluster_dir_of(&scratch.data_dir);
    assert!(
        cluster_dir.starts_with(RELOCATED_ROOT),
        "{}",
        cluster_dir.display()
    );
    assert!(cluster_dir.join("pgdata/PG_VERSION").exists());
    assert!(!scratch.data_dir.join("pgdata").exists());
    let token = scratch
        .log("first.out")
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("crm_"))
        .expect("the first admin token")
        .to_owned();
    let manager = uuid::Uuid::new_v4();
    let body = format!(
        r#"{{"id": "{manager}", "name": "Olena", "department": "Wholesale", "role": "manager"}}"#
    );
    let (status, answer) = http(port, "POST", "/managers", Some(&token), &body)
        .await
        .unwrap();
    assert_eq!(status, 201, "{answer}");
    end_last(&mut first, &cluster_dir).await;
    // Where the data lives is said at start; the home folder was not opened up.
    assert!(scratch.log("first.log").contains(&format!(
        "data lives in the PostgreSQL cluster at {}",
        cluster_dir.display()
    )));
    let mode = std::fs::metadata(&scratch.root)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);

    // Started again: the same cluster, with the manager registered before.
    let mut second = spawn_crm(&clone, &serve, &scratch.root, "second");
    wait_healthy(port).await;
    assert_eq!(cluster_dir_of(&scratch.data_dir), cluster_dir);
    let (status, answer) = http(
        port,
        "GET",
        &format!("/streams/manager-{manager}/events"),
        Some(&token),
        "",
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("\"Olena\""), "{answer}");
    end_last(&mut second, &cluster_dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crm_processes_share_the_cluster_and_the_last_one_stops_it() {
    let scratch = Scratch::new("crm-shared", 0o755);
    // Every command runs in the clone's folder, on its data folder `.crm`.
    let clone = scratch.clone_dir();

    // A command-line process starts the cluster...
    let mut projector = spawn_crm(&clone, &["project"], &scratch.root, "project");
    wait_until(
        "crm project has the cluster running",
        Duration::from_secs(90),
        || async {
            let cluster_dir = cluster_dir_of(&scratch.data_dir);
            let Ok(port) = std::fs::read_to_string(cluster_dir.join("port")) else {
                return false;
            };
            let url = format!("postgres://postgres@127.0.0.1:{}/crm", port.trim());
            <sqlx::PgConnection as sqlx::Connection>::connect(&url)
                .await
                .is_ok()
        },
    )
    .await;
    let cluster_dir = cluster_dir_of(&scratch.data_dir);
    let server_pid = postmaster(&cluster_dir).expect("PostgreSQL runs");

    // ...a server joins it, then that process ends: the server keeps its database.
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let serve = [
        "serve",
        "--no-projectors",
        "--seal-interval",
        "0",
        "--listen",
        &listen,
    ];
    let mut server = spawn_crm(&clone, &serve, &scratch.root, "serve");
    wait_healthy(port).await;
    let exit = terminate(&mut projector).await;
    assert!(exit.success(), "{exit:?}");
    assert_eq!(postmaster(&cluster_dir), Some(server_pid));
    let (status, answer) = http(port, "GET", "/health", None, "").await.unwrap();
    assert_eq!(status, 200, "{answer}");

    // The start-up banner's suggestion, run as printed from the same folder, works.
    let mut banner = String::new();
    wait_until(
        "crm serve prints its first admin token",
        Duration::from_secs(30),
        || {
            banner = scratch.log("serve.out");
            std::future::ready(banner.contains("token create"))
        },
    )
    .await;
    let suggested = banner
        .lines()
        .map(str::trim)
        .find(|line| line.ends_with("token create --role admin"))
        .expect("a command to make tokens");
    let made = Command::new("sh")
        .args(["-c", suggested])
        .current_dir(&clone)
        .env_remove("DATABASE_URL")
        .env_remove("CRM_DATA_DIR")
        .output()
        .await
        .unwrap();
    assert!(made.status.success(), "{suggested}: {made:?}");
    let admin = String::from_utf8(made.stdout).unwrap().trim().to_owned();
    assert!(admin.starts_with("crm_"), "{admin}");

    // Other commands beside the server, each ending while it runs.
    let analyst = crm_ok(&clone, &["token", "create", "--role", "analyst"]).await;
    let analyst = String::from_utf8(analyst.stdout).unwrap().trim().to_owned();
    let revoked = crm_ok(&clone, &["token", "revoke", &analyst]).await;
    assert_eq!(
        String::from_utf8_lossy(&revoked.stdout).trim(),
        "revoked 1 token(s)"
    );
    crm_ok(&clone, &["audit", "verify"]).await;
    crm_ok(&clone, &["migrate"]).await;
    assert_eq!(postmaster(&cluster_dir), Some(server_pid));
    let (status, answer) = http(port, "GET", "/events?limit=5", Some(&admin), "")
        .await
        .unwrap();
    assert_eq!(status, 200, "{answer}");

    // The last process stops the cluster.
    end_last(&mut server, &cluster_dir).await;

    // Logs went to files: no colour codes (ESC) in them.
    for log in ["serve.log", "project.log"] {
        let text = scratch.log(log);
        assert!(text.contains("INFO"), "{log}: {text}");
        assert!(!text.contains('\u{1b}'), "{log}: {text}");
    }

    // A command that starts the cluster and then fails hard (printing its token to a
    // pipe nobody reads any more makes it panic) still stops the cluster.
    let mut orphan = crm_command(&clone, &["token", "create", "--role", "admin"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(orphan.stdout.take());
    let exit = orphan.wait().await.unwrap();
    assert!(!exit.success(), "{exit:?}");
    assert_eq!(postmaster(&cluster_dir), None, "PostgreSQL stopped");

    // A cluster started by hand is used, and left running.
    let (_, pg_ctl) = crm_cli::embedded::find_binaries().unwrap();
    let port_file = std::fs::read_to_string(cluster_dir.join("port")).unwrap();
    let options = format!("-p {} -h 127.0.0.1 -k ''", port_file.trim());
    let pgdata = cluster_dir.join("pgdata");
    let log = cluster_dir.join("postgres.log");
    let mut by_hand = if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(&pg_ctl);
        command
    } else {
        Command::new(&pg_ctl)
    };
    let started = by_hand
        .arg("start")
        .arg("-D")
        .arg(&pgdata)
        .arg("-l")
        .arg(&log)
        .args(["-w", "-o", &options])
        .current_dir("/")
        .output()
        .await
        .unwrap();
    assert!(started.status.success(), "{started:?}");
    let hand_pid = postmaster(&cluster_dir).expect("PostgreSQL runs");
    crm_ok(&clone, &["migrate"]).await;
    assert_eq!(postmaster(&cluster_dir), Some(hand_pid), "left running");
}
