//! A private PostgreSQL cluster for running the CRM without setting up a database.
//!
//! When no `DATABASE_URL` is given, the `crm` binary starts [`EmbeddedPostgres`] for its
//! data folder: the cluster is created on first use (`initdb`), started with `pg_ctl`,
//! listens only on 127.0.0.1 at a port picked once and remembered, and holds a `crm`
//! database. The PostgreSQL server binaries must be installed (Debian package
//! `postgresql`); nothing is downloaded.
//!
//! The cluster's folder holds:
//!
//! | path | what |
//! | --- | --- |
//! | `pgdata/` | the cluster |
//! | `run/` | the unix socket |
//! | `port` | the TCP port, picked on first start |
//! | `postgres.log` | the server's log |
//! | `cluster.lock`, `users.lock`, `started-by-crm` | how `crm` processes share it (module `sharing`) |
//!
//! That folder is the data folder itself, or one elsewhere ([`location`]): when this
//! process is root, PostgreSQL (which refuses to run as root) runs as the `postgres` OS
//! user (through `runuser`), which then owns `pgdata/`, `run/` and the log; when that
//! user cannot reach the data folder, the cluster lives under /var/lib/crm.
//!
//! Any number of `crm` processes use one cluster at once; the last one to leave stops
//! it if crm started it ([`EmbeddedPostgres::release`]).

pub mod location;
mod sharing;

use std::io;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use location::Known;
use sharing::{Share, Transition};
use sqlx::{Connection, PgConnection};

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
    /// The `postgres` OS user cannot get into the cluster's folder.
    #[error(
        "the `{SERVICE_USER}` OS user cannot reach {path}: a folder on the way does not let \
         it through (e.g. mode 700); choose a cluster folder it can reach (--cluster-dir, \
         env CRM_CLUSTER_DIR) or let it through the parent folders (chmod o+x)"
    )]
    Unreachable {
        /// The folder the server must use.
        path: PathBuf,
    },
    /// The cluster folder asked for is not the one the data folder already has.
    #[error(
        "the data folder {data_dir} has its cluster in {current}, but {chosen} was asked for \
         (--cluster-dir, env CRM_CLUSTER_DIR): leave that option out to use the cluster \
         it has"
    )]
    Conflict {
        /// The data folder.
        data_dir: PathBuf,
        /// Where its cluster is.
        current: PathBuf,
        /// Where the caller asked for it.
        chosen: PathBuf,
    },
    /// The data folder's pointer file names a folder without a cluster.
    #[error(
        "the data folder {data_dir} keeps its cluster in {cluster_dir} (as its file \
         `{pointer}` says), but there is no cluster there: restore that folder, or remove \
         the file to start a new, empty cluster",
        pointer = location::POINTER_FILE
    )]
    ClusterGone {
        /// The data folder.
        data_dir: PathBuf,
        /// The folder its pointer file names.
        cluster_dir: PathBuf,
    },
    /// The data folder's pointer file does not hold an absolute path.
    #[error("{path} does not hold the absolute path of a folder: {content:?}")]
    BadPointer {
        /// The pointer file.
        path: PathBuf,
        /// What it holds.
        content: String,
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

/// A PostgreSQL cluster of a data folder, run with the installed server binaries, and
/// this process's use of it (see [`EmbeddedPostgres::release`]).
#[derive(Debug)]
pub struct EmbeddedPostgres {
    data_dir: PathBuf,
    cluster_dir: PathBuf,
    pg_ctl: PathBuf,
    port: u16,
    run_as: Option<ServiceUser>,
    share: Share,
}

/// The OS user the server runs as when this process is root.
#[derive(Debug, Clone, Copy)]
struct ServiceUser {
    uid: u32,
    gid: u32,
}

impl EmbeddedPostgres {
    /// Starts the cluster of `data_dir` (created and initialised if needed, joined if
    /// already running) and makes sure the `crm` database exists. `cluster_dir` asks
    /// for the cluster's files to go there rather than where [`location`] puts them.
    pub async fn start(
        data_dir: &Path,
        cluster_dir: Option<&Path>,
    ) -> Result<EmbeddedPostgres, EmbeddedError> {
        let (initdb, pg_ctl) = find_binaries()?;
        let data_dir = resolved(data_dir)?;
        let chosen = cluster_dir.map(absolute).transpose()?;
        let run_as = if running_as_root(&data_dir)? {
            Some(service_user().await?)
        } else {
            None
        };
        let recorded = location::read_pointer(&data_dir)?;
        let cluster_dir =
            cluster_folder(&data_dir, recorded.clone(), chosen, run_as.is_some()).await?;
        std::fs::create_dir_all(&cluster_dir).map_err(io_err("cannot create", &cluster_dir))?;

        let transition = Transition::begin(&cluster_dir).await?;
        let share = Share::take(&cluster_dir)?;
        let mut pg = EmbeddedPostgres {
            data_dir,
            cluster_dir,
            pg_ctl,
            port: 0,
            run_as,
            share,
        };
        pg.prepare_folders().await?;
        if !pg.pgdata().join("PG_VERSION").exists() {
            pg.initdb(&initdb).await?;
        }
        if pg.cluster_dir != pg.data_dir && recorded.is_none() {
            pg.record_location()?;
        }
        pg.port = match pg.running_port().await? {
            Some(port) => port,
            None => pg.remembered_or_new_port()?,
        };
        pg.ensure_running().await?;
        drop(transition);
        pg.create_database().await?;
        Ok(pg)
    }

    /// Starts the already initialised cluster again on the same port (no-op when it is
    /// running) and makes sure the `crm` database exists.
    pub async fn start_again(&self) -> Result<(), EmbeddedError> {
        let transition = Transition::begin(&self.cluster_dir).await?;
        self.ensure_running().await?;
        drop(transition);
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

    /// The data folder (resolved).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The folder holding the cluster, its port file, socket and log: the data folder,
    /// or the one its pointer file names.
    pub fn cluster_dir(&self) -> &Path {
        &self.cluster_dir
    }

    /// The server's log file.
    pub fn log_file(&self) -> PathBuf {
        self.cluster_dir.join("postgres.log")
    }

    /// Ends this process's use of the cluster: stops the server if no other `crm`
    /// process uses it and crm started it (a server started by hand keeps running).
    pub async fn release(self) -> Result<(), EmbeddedError> {
        let _transition = Transition::begin(&self.cluster_dir).await?;
        if !self.share.is_last()? {
            tracing::info!("other crm processes use PostgreSQL: leaving it running");
            return Ok(());
        }
        if !self.is_running().await? {
            return Ok(());
        }
        if !sharing::started_by_crm(&self.cluster_dir, &self.pgdata()) {
            tracing::info!("PostgreSQL was not started by crm: leaving it running");
            return Ok(());
        }
        self.pg_ctl_stop().await
    }

    /// Stops the server now (`pg_ctl stop -m fast`: open connections are closed),
    /// whoever started it and whoever uses it: for tests that take the database away;
    /// a no-op when it is not running.
    pub async fn stop(&self) -> Result<(), EmbeddedError> {
        let _transition = Transition::begin(&self.cluster_dir).await?;
        if !self.is_running().await? {
            return Ok(());
        }
        self.pg_ctl_stop().await
    }

    /// The same as [`EmbeddedPostgres::stop`] but blocking and without a runtime, for
    /// `Drop` guards; a no-op when the server is not running.
    pub fn stop_blocking(&self) -> Result<(), EmbeddedError> {
        let _transition = Transition::begin_blocking(&self.cluster_dir)?;
        let args = self.stop_args();
        let output = self
            .command(&self.pg_ctl, &args)
            .output()
            .map_err(|source| EmbeddedError::Spawn {
                program: self.pg_ctl.display().to_string(),
                source,
            })?;
        if !output.status.success() && self.pgdata().join("postmaster.pid").exists() {
            return check(&self.pg_ctl, &args, output).map(|_| ());
        }
        sharing::clear_mark(&self.cluster_dir)
    }

    fn pgdata(&self) -> PathBuf {
        self.cluster_dir.join("pgdata")
    }

    fn socket_dir(&self) -> PathBuf {
        self.cluster_dir.join("run")
    }

    fn port_file(&self) -> PathBuf {
        self.cluster_dir.join("port")
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
                path: self.cluster_dir.clone(),
            });
        }
        Ok(())
    }

    async fn initdb(&self, initdb: &Path) -> Result<(), EmbeddedError> {
        tracing::info!(cluster_dir = %self.cluster_dir.display(), "initialising a PostgreSQL cluster");
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

    /// Writes the data folder's pointer to the cluster's folder, and in that folder
    /// which data folder it belongs to (for whoever looks around /var/lib/crm).
    fn record_location(&self) -> Result<(), EmbeddedError> {
        let note = self.cluster_dir.join(location::DATA_FOLDER_NOTE);
        if !note.exists() {
            let mut content = self.data_dir.as_os_str().as_encoded_bytes().to_vec();
            content.push(b'\n');
            std::fs::write(&note, content).map_err(io_err("cannot write", &note))?;
        }
        location::write_pointer(&self.data_dir, &self.cluster_dir)
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

    /// Joins the running server, or starts it and records that crm did (during a
    /// [`Transition`]).
    async fn ensure_running(&self) -> Result<(), EmbeddedError> {
        if !self.is_running().await? {
            self.pg_ctl_start().await?;
            return sharing::mark_started(&self.cluster_dir, &self.pgdata());
        }
        let by = if sharing::started_by_crm(&self.cluster_dir, &self.pgdata()) {
            "crm"
        } else {
            "hand (crm will leave it running)"
        };
        tracing::info!(
            cluster_dir = %self.cluster_dir.display(),
            port = self.port,
            "joining the running PostgreSQL, started by {by}"
        );
        Ok(())
    }

    async fn pg_ctl_start(&self) -> Result<(), EmbeddedError> {
        tracing::info!(cluster_dir = %self.cluster_dir.display(), port = self.port, "starting PostgreSQL");
        let socket_dir = self.socket_dir();
        let socket_len = socket_dir.as_os_str().len() + "/.s.PGSQL.65535".len();
        let socket_dir = if socket_len <= MAX_SOCKET_PATH {
            socket_dir.display().to_string()
        } else {
            tracing::debug!("cluster folder path too long for a unix socket; TCP only");
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

    /// `pg_ctl stop -m fast` (during a [`Transition`]).
    async fn pg_ctl_stop(&self) -> Result<(), EmbeddedError> {
        tracing::info!(cluster_dir = %self.cluster_dir.display(), "stopping PostgreSQL");
        let args = self.stop_args();
        let output = self.run(&self.pg_ctl, &args).await?;
        check(&self.pg_ctl, &args, output)?;
        sharing::clear_mark(&self.cluster_dir)
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

    /// `program` with `args`, run in the cluster's folder, as the `postgres` user when root.
    fn command(&self, program: &Path, args: &[String]) -> std::process::Command {
        service_command(self.run_as.is_some(), &self.cluster_dir, program, args)
    }

    /// Runs [`EmbeddedPostgres::command`] and waits for it.
    async fn run(&self, program: &Path, args: &[String]) -> Result<Output, EmbeddedError> {
        tracing::debug!(program = %program.display(), ?args, "running");
        output(self.command(program, args)).await
    }
}

/// The folder of the cluster of `data_dir` (see [`location`]), given what its pointer
/// file says, the folder asked for, and whether the server runs as the `postgres` user.
async fn cluster_folder(
    data_dir: &Path,
    recorded: Option<PathBuf>,
    chosen: Option<PathBuf>,
    as_service_user: bool,
) -> Result<PathBuf, EmbeddedError> {
    let holds_cluster = data_dir.join("pgdata").join("PG_VERSION").exists();
    match location::known(data_dir, recorded, holds_cluster, chosen.as_deref())? {
        Known::InPlace => Ok(data_dir.to_path_buf()),
        Known::Chosen(dir) => resolved(&dir),
        Known::Recorded(dir) if dir.join("pgdata").join("PG_VERSION").exists() => Ok(dir),
        Known::Recorded(dir) => Err(EmbeddedError::ClusterGone {
            data_dir: data_dir.to_path_buf(),
            cluster_dir: dir,
        }),
        Known::Undecided if as_service_user && !service_user_reaches(data_dir).await? => {
            let dir = location::relocated_dir(data_dir);
            tracing::info!(
                "the `{SERVICE_USER}` OS user cannot reach {}: its PostgreSQL cluster goes to \
                 {} (recorded in {})",
                data_dir.display(),
                dir.display(),
                data_dir.join(location::POINTER_FILE).display()
            );
            create_system_folder(&dir)?;
            Ok(dir)
        }
        Known::Undecided => Ok(data_dir.to_path_buf()),
    }
}

/// `program` with `args` in `cwd`, as the `postgres` user when `as_service_user`.
fn service_command(
    as_service_user: bool,
    cwd: &Path,
    program: &Path,
    args: &[String],
) -> std::process::Command {
    let mut command = if as_service_user {
        let mut command = std::process::Command::new("runuser");
        command.args(["-u", SERVICE_USER, "--"]).arg(program);
        command
    } else {
        std::process::Command::new(program)
    };
    command.args(args).current_dir(cwd).stdin(Stdio::null());
    command
}

/// True when the `postgres` OS user can get into `dir` (every folder on the way lets
/// it through).
async fn service_user_reaches(dir: &Path) -> Result<bool, EmbeddedError> {
    let args = ["-x".to_string(), dir.display().to_string()];
    let test = service_command(true, Path::new("/"), Path::new("test"), &args);
    Ok(output(test).await?.status.success())
}

/// Runs `command` and waits for it, without blocking the runtime.
async fn output(command: std::process::Command) -> Result<Output, EmbeddedError> {
    let program = command.get_program().to_string_lossy().into_owned();
    tokio::process::Command::from(command)
        .output()
        .await
        .map_err(|source| EmbeddedError::Spawn { program, source })
}

/// Creates a folder under [`location::RELOCATED_ROOT`] (and that one), each `rwxr-xr-x`
/// so that the `postgres` user gets through to the folders handed to it.
fn create_system_folder(dir: &Path) -> Result<(), EmbeddedError> {
    use std::os::unix::fs::PermissionsExt;
    for folder in [Path::new(location::RELOCATED_ROOT), dir] {
        if !folder.exists() {
            std::fs::create_dir_all(folder).map_err(io_err("cannot create", folder))?;
            std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o755))
                .map_err(io_err("cannot set the permissions of", folder))?;
        }
    }
    Ok(())
}

/// `path` created if missing, then resolved to an absolute path without links.
fn resolved(path: &Path) -> Result<PathBuf, EmbeddedError> {
    std::fs::create_dir_all(path).map_err(io_err("cannot create", path))?;
    path.canonicalize().map_err(io_err("cannot resolve", path))
}

/// `path` resolved to an absolute path without links if it exists, else only absolute.
fn absolute(path: &Path) -> Result<PathBuf, EmbeddedError> {
    path.canonicalize()
        .or_else(|_| std::path::absolute(path))
        .map_err(io_err("cannot resolve", path))
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
pub fn find_binaries() -> Result<(PathBuf, PathBuf), EmbeddedError> {
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
        let mut command = std::process::Command::new("id");
        command.args([flag, SERVICE_USER]).stdin(Stdio::null());
        let output = output(command).await?;
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
