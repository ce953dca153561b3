//! A private PostgreSQL cluster for running the CRM without setting up a database.
//!
//! When no `DATABASE_URL` is given, the `crm` binary starts [`EmbeddedPostgres`] in its
//! data folder: the cluster is created there on first use (`initdb`), started with
//! `pg_ctl`, listens only on 127.0.0.1 at a port picked once and remembered, and holds
//! a `crm` database. The PostgreSQL server binaries must be installed (Debian package
//! `postgresql`); nothing is downloaded.
//!
//! Layout of the data folder:
//!
//! | path | what |
//! | --- | --- |
//! | `pgdata/` | the cluster |
//! | `run/` | the unix socket |
//! | `port` | the TCP port, picked on first start |
//! | `postgres.log` | the server's log |
//!
//! PostgreSQL refuses to run as root, so when this process is root the server runs as
//! the `postgres` OS user (through `runuser`), which then owns the cluster's folders.

use std::io;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection};
use tokio::process::Command;

/// The name of the database the CRM uses inside the cluster.
pub const DATABASE: &str = "crm";

/// The OS user the server runs as when this process is root.
const SERVICE_USER: &str = "postgres";

/// Where Debian installs the server binaries, one folder per major version.
const DEBIAN_LIB: &str = "/usr/lib/postgresql";

/// How long `pg_ctl` waits for the server to start or stop, in seconds.
const PG_CTL_WAIT_SECS: &str = "60";

/// The longest path a unix socket may have (`sun_path` is 108 bytes on Linux).
const MAX_SOCKET_PATH: usize = 107;

/// Everything that can go wrong when starting or stopping the embedded cluster.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// `initdb` or `pg_ctl` is nowhere to be found.
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or under \
         {DEBIAN_LIB}/*/bin; install it with: apt-get install postgresql \
         (or set DATABASE_URL to use an existing server)"
    )]
    NotInstalled,
    /// This process is root but there is no `postgres` OS user to run the server as.
    #[error(
        "running as root, but there is no `{SERVICE_USER}` OS user to run PostgreSQL as \
         (PostgreSQL refuses to run as root): {0}"
    )]
    NoServiceUser(String),
    /// The `postgres` OS user cannot get into the data folder.
    #[error(
        "the `{SERVICE_USER}` OS user cannot reach {path}: a folder on the way does not let \
         it through (e.g. mode 700); choose a data folder it can reach (e.g. under /tmp or \
         /var/lib) or let others through the parent folders (chmod o+x)"
    )]
    Unreachable {
        /// The folder the server must use.
        path: PathBuf,
    },
    /// A file or folder operation failed.
    #[error("{what} {path}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or folder concerned.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The remembered port file does not hold a port number.
    #[error("{path} does not hold a TCP port number: {content:?}")]
    BadPortFile {
        /// The port file.
        path: PathBuf,
        /// What it holds.
        content: String,
    },
    /// A program could not be run at all.
    #[error("cannot run {program}")]
    Spawn {
        /// The program.
        program: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A program ran and failed.
    #[error("{command} failed ({status}): {output}")]
    Command {
        /// The command line.
        command: String,
        /// How it ended.
        status: ExitStatus,
        /// What it printed (and, for a failed start, the end of the server's log).
        output: String,
    },
    /// The server runs but cannot be connected to, or the `crm` database cannot be created.
    #[error("cannot set up the `{DATABASE}` database on port {port}")]
    Database {
        /// The server's port.
        port: u16,
        /// The cause.
        #[source]
        source: sqlx::Error,
    },
}

/// A PostgreSQL cluster in a folder of its own, run with the installed server binaries.
#[derive(Debug, Clone)]
pub struct EmbeddedPostgres {
    data_dir: PathBuf,
    pg_ctl: PathBuf,
    port: u16,
    run_as: Option<ServiceUser>,
}

/// The OS user the server runs as when this process is root.
#[derive(Debug, Clone, Copy)]
struct ServiceUser {
    uid: u32,
    gid: u32,
}

impl EmbeddedPostgres {
    /// Starts the cluster in `data_dir` (created and initialised if needed, reused if
    /// already running) and makes sure the `crm` database exists.
    pub async fn start(data_dir: &Path) -> Result<EmbeddedPostgres, EmbeddedError> {
        let (initdb, pg_ctl) = find_binaries()?;
        std::fs::create_dir_all(data_dir).map_err(io_err("cannot create", data_dir))?;
        let data_dir = data_dir
            .canonicalize()
            .map_err(io_err("cannot resolve", data_dir))?;
        let run_as = if running_as_root(&data_dir)? {
            Some(service_user().await?)
        } else {
            None
        };
        let mut pg = EmbeddedPostgres {
            data_dir,
            pg_ctl,
            port: 0,
            run_as,
        };
        pg.prepare_folders().await?;
        if !pg.pgdata().join("PG_VERSION").exists() {
            pg.initdb(&initdb).await?;
        }
        pg.port = match pg.running_port().await? {
            Some(port) => port,
            None => pg.remembered_or_new_port()?,
        };
        pg.start_again().await?;
        Ok(pg)
    }

    /// Starts the already initialised cluster again on the same port (no-op when it is
    /// running) and makes sure the `crm` database exists.
    pub async fn start_again(&self) -> Result<(), EmbeddedError> {
        if self.is_running().await? {
            tracing::info!(data_dir = %self.data_dir.display(), port = self.port, "reusing the running PostgreSQL");
        } else {
            self.pg_ctl_start().await?;
        }
        self.create_database().await
    }

    /// The URL of the `crm` database: `postgres://postgres@127.0.0.1:PORT/crm`.
    pub fn database_url(&self) -> String {
        self.url_of(DATABASE)
    }

    /// The TCP port the server listens on (127.0.0.1 only).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The folder holding the cluster, its port file, socket and log.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The server's log file.
    pub fn log_file(&self) -> PathBuf {
        self.data_dir.join("postgres.log")
    }

    /// Stops the server (`pg_ctl stop -m fast`: open connections are closed); a no-op
    /// when it is not running.
    pub async fn stop(&self) -> Result<(), EmbeddedError> {
        if !self.is_running().await? {
            return Ok(());
        }
        tracing::info!(data_dir = %self.data_dir.display(), "stopping PostgreSQL");
        let args = self.stop_args();
        let output = self.run(&self.pg_ctl, &args).await?;
        check(&self.pg_ctl, &args, output).map(|_| ())
    }

    /// The same as [`EmbeddedPostgres::stop`] but blocking and without a runtime, for
    /// `Drop` guards and exit paths; a no-op when the server is not running.
    pub fn stop_blocking(&self) -> Result<(), EmbeddedError> {
        let args = self.stop_args();
        let mut command = match self.run_as {
            Some(_) => {
                let mut command = std::process::Command::new("runuser");
                command.args(["-u", SERVICE_USER, "--"]).arg(&self.pg_ctl);
                command
            }
            None => std::process::Command::new(&self.pg_ctl),
        };
        command
            .args(&args)
            .current_dir(&self.data_dir)
            .stdin(Stdio::null());
        let output = command.output().map_err(|source| EmbeddedError::Spawn {
            program: self.pg_ctl.display().to_string(),
            source,
        })?;
        if !output.status.success() && self.pgdata().join("postmaster.pid").exists() {
            return check(&self.pg_ctl, &args, output).map(|_| ());
        }
        Ok(())
    }

    fn pgdata(&self) -> PathBuf {
        self.data_dir.join("pgdata")
    }

    fn socket_dir(&self) -> PathBuf {
        self.data_dir.join("run")
    }

    fn port_file(&self) -> PathBuf {
        self.data_dir.join("port")
    }

    fn url_of(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    fn stop_args(&self) -> Vec<String> {
        vec![
            "stop".into(),
            "-D".into(),
            self.pgdata().display().to_string(),
            "-m".into(),
            "fast".into(),
            "-w".into(),
            "-t".into(),
            PG_CTL_WAIT_SECS.into(),
        ]
    }

    /// Creates the cluster's folders and, as root, hands them to the `postgres` user.
    async fn prepare_folders(&self) -> Result<(), EmbeddedError> {
        for dir in [self.pgdata(), self.socket_dir()] {
            std::fs::create_dir_all(&dir).map_err(io_err("cannot create", &dir))?;
        }
        let Some(user) = self.run_as else {
            return Ok(());
        };
        let log = self.log_file();
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(io_err("cannot create", &log))?;
        for path in [self.pgdata(), self.socket_dir(), log] {
            std::os::unix::fs::chown(&path, Some(user.uid), Some(user.gid))
                .map_err(io_err("cannot hand to the postgres user", &path))?;
        }
        // The server needs to get through every parent folder: check as that user.
        let args = ["-w".to_string(), self.pgdata().display().to_string()];
        let output = self.run(Path::new("test"), &args).await?;
        if !output.status.success() {
            return Err(EmbeddedError::Unreachable {
                path: self.data_dir.clone(),
            });
        }
        Ok(())
    }

    async fn initdb(&self, initdb: &Path) -> Result<(), EmbeddedError> {
        tracing::info!(data_dir = %self.data_dir.display(), "initialising a PostgreSQL cluster");
        let args = vec![
            "-D".to_string(),
            self.pgdata().display().to_string(),
            "-U".into(),
            "postgres".into(),
            "--auth=trust".into(),
            "-E".into(),
            "UTF8".into(),
            "--locale=C".into(),
        ];
        let output = self.run(initdb, &args).await?;
        check(initdb, &args, output)?;
        Ok(())
    }

    /// The port from the port file, or a free one (remembered from now on).
    fn remembered_or_new_port(&self) -> Result<u16, EmbeddedError> {
        let file = self.port_file();
        match std::fs::read_to_string(&file) {
            Ok(content) => content
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|port| *port != 0)
                .ok_or(EmbeddedError::BadPortFile {
                    path: file,
                    content,
                }),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                let port = TcpListener::bind(("127.0.0.1", 0))
                    .and_then(|listener| listener.local_addr())
                    .map_err(io_err("cannot find a free TCP port on", "127.0.0.1"))?
                    .port();
                std::fs::write(&file, format!("{port}\n"))
                    .map_err(io_err("cannot write", &file))?;
                tracing::info!(port, "picked a port for PostgreSQL");
                Ok(port)
            }
            Err(err) => Err(io_err("cannot read", &file)(err)),
        }
    }

    /// The port of the server when it is already running (from its `postmaster.pid`).
    async fn running_port(&self) -> Result<Option<u16>, EmbeddedError> {
        if !self.is_running().await? {
            return Ok(None);
        }
        let pid_file = self.pgdata().join("postmaster.pid");
        let content =
            std::fs::read_to_string(&pid_file).map_err(io_err("cannot read", &pid_file))?;
        // Line 4 of postmaster.pid is the port.
        Ok(content
            .lines()
            .nth(3)
            .and_then(|line| line.trim().parse().ok()))
    }

    /// True when `pg_ctl status` finds the server running.
    async fn is_running(&self) -> Result<bool, EmbeddedError> {
        let args = vec![
            "status".to_string(),
            "-D".into(),
            self.pgdata().display().to_string(),
        ];
        let output = self.run(&self.pg_ctl, &args).await?;
        // 0: running; 3: not running; 4: no usable data folder (start will say why).
        Ok(output.status.success())
    }

    async fn pg_ctl_start(&self) -> Result<(), EmbeddedError> {
        tracing::info!(data_dir = %self.data_dir.display(), port = self.port, "starting PostgreSQL");
        let socket_dir = self.socket_dir();
        let socket_len = socket_dir.as_os_str().len() + "/.s.PGSQL.65535".len();
        let socket_dir = if socket_len <= MAX_SOCKET_PATH {
            socket_dir.display().to_string()
        } else {
            tracing::debug!("data folder path too long for a unix socket; TCP only");
            String::new()
        };
        // pg_ctl hands these options to a shell: quote the path.
        let options = format!(
            "-p {} -h 127.0.0.1 -k {}",
            self.port,
            shell_quote(&socket_dir)
        );
        let args = vec![
            "start".to_string(),
            "-D".into(),
            self.pgdata().display().to_string(),
            "-l".into(),
            self.log_file().display().to_string(),
            "-w".into(),
            "-t".into(),
            PG_CTL_WAIT_SECS.into(),
            "-o".into(),
            options,
        ];
        let output = self.run(&self.pg_ctl, &args).await?;
        check(&self.pg_ctl, &args, output).map_err(|err| match err {
            EmbeddedError::Command {
                command,
                status,
                output,
            } => EmbeddedError::Command {
                command,
                status,
                output: format!(
                    "{output}\n--- end of {} ---\n{}",
                    self.log_file().display(),
                    log_tail(&self.log_file(), 20)
                ),
            },
            other => other,
        })?;
        Ok(())
    }

    /// Creates the `crm` database unless it exists, waiting a little for the server.
    async fn create_database(&self) -> Result<(), EmbeddedError> {
        let db_err = |source| EmbeddedError::Database {
            port: self.port,
            source,
        };
        let url = self.url_of("postgres");
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut conn = loop {
            match PgConnection::connect(&url).await {
                Ok(conn) => break conn,
                Err(err) if Instant::now() < deadline => {
                    tracing::debug!(error = %err, "PostgreSQL not answering yet");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(err) => return Err(db_err(err)),
            }
        };
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(DATABASE)
                .fetch_one(&mut conn)
                .await
                .map_err(db_err)?;
        if !exists {
            tracing::info!("creating the `{DATABASE}` database");
            let created = sqlx::raw_sql(&format!("CREATE DATABASE {DATABASE}"))
                .execute(&mut conn)
                .await;
            match created {
                Ok(_) => {}
                // Created meanwhile by another process: fine.
                Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("42P04") => {}
                Err(err) => return Err(db_err(err)),
            }
        }
        conn.close().await.map_err(db_err)?;
        Ok(())
    }

    /// Runs `program` with `args` in the data folder, as the `postgres` user when root.
    async fn run(&self, program: &Path, args: &[String]) -> Result<Output, EmbeddedError> {
        let mut command = match self.run_as {
            Some(_) => {
                let mut command = Command::new("runuser");
                command.args(["-u", SERVICE_USER, "--"]).arg(program);
                command
            }
            None => Command::new(program),
        };
        command
            .args(args)
            .current_dir(&self.data_dir)
            .stdin(Stdio::null());
        tracing::debug!(program = %program.display(), ?args, "running");
        command
            .output()
            .await
            .map_err(|source| EmbeddedError::Spawn {
                program: program.display().to_string(),
                source,
            })
    }
}

/// Turns a finished command into an error unless it succeeded.
fn check(program: &Path, args: &[String], output: Output) -> Result<Output, EmbeddedError> {
    if output.status.success() {
        return Ok(output);
    }
    let mut printed = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !stderr.trim().is_empty() {
        if !printed.is_empty() {
            printed.push('\n');
        }
        printed.push_str(stderr.trim());
    }
    Err(EmbeddedError::Command {
        command: format!("{} {}", program.display(), args.join(" ")),
        status: output.status,
        output: printed,
    })
}

/// `initdb` and `pg_ctl`: from PATH, else from the highest version under /usr/lib/postgresql.
fn find_binaries() -> Result<(PathBuf, PathBuf), EmbeddedError> {
    let on_path = |name: &str| {
        std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(name))
                .find(|candidate| is_executable(candidate))
        })
    };
    if let (Some(initdb), Some(pg_ctl)) = (on_path("initdb"), on_path("pg_ctl")) {
        return Ok((initdb, pg_ctl));
    }
    let mut versions: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir(DEBIAN_LIB)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let version: Option<Vec<u32>> = name.split('.').map(|n| n.parse().ok()).collect();
            Some((version?, entry.path().join("bin")))
        })
        .filter(|(_, bin)| is_executable(&bin.join("initdb")) && is_executable(&bin.join("pg_ctl")))
        .collect();
    versions.sort();
    let (_, bin) = versions.pop().ok_or(EmbeddedError::NotInstalled)?;
    Ok((bin.join("initdb"), bin.join("pg_ctl")))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.mode() & 0o111 != 0)
}

/// True when this process runs as root (`/proc/self` belongs to the process's user;
/// where there is no /proc, the owner of a folder it just created tells the same).
fn running_as_root(data_dir: &Path) -> Result<bool, EmbeddedError> {
    let probe = Path::new("/proc/self");
    let meta = std::fs::metadata(probe)
        .or_else(|_| std::fs::metadata(data_dir))
        .map_err(io_err("cannot inspect", probe))?;
    Ok(meta.uid() == 0)
}

/// The uid and gid of the `postgres` OS user.
async fn service_user() -> Result<ServiceUser, EmbeddedError> {
    async fn id(flag: &str) -> Result<u32, EmbeddedError> {
        let output = Command::new("id")
            .args([flag, SERVICE_USER])
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|source| EmbeddedError::Spawn {
                program: "id".into(),
                source,
            })?;
        let text = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            let why = String::from_utf8_lossy(&output.stderr).trim().to_string();
            return Err(EmbeddedError::NoServiceUser(why));
        }
        text.trim()
            .parse()
            .map_err(|_| EmbeddedError::NoServiceUser(format!("`id {flag}` printed {text:?}")))
    }
    Ok(ServiceUser {
        uid: id("-u").await?,
        gid: id("-g").await?,
    })
}

/// A closure making an [`EmbeddedError::Io`] about `path`.
fn io_err(what: &'static str, path: impl AsRef<Path>) -> impl FnOnce(io::Error) -> EmbeddedError {
    let path = path.as_ref().to_path_buf();
    move |source| EmbeddedError::Io { what, path, source }
}

/// `s` in single quotes for a POSIX shell.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The last `lines` lines of a log file (empty when unreadable).
fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
