//! Where a data folder's cluster keeps its files (`pgdata/`, `run/`, `port`, the log).
//!
//! In the data folder itself, unless the process is root and the `postgres` OS user
//! (which then runs the server) cannot get into the data folder, as in a clone under
//! a mode-700 `/root`: then in a folder of its own under [`RELOCATED_ROOT`], named
//! after the data folder's path. A cluster kept outside the data folder is recorded in
//! the data folder's [`POINTER_FILE`], so the same data folder always finds the same
//! cluster (also once moved, or once the `postgres` user could reach it).

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::EmbeddedError;

/// The system folder holding the clusters of data folders the `postgres` user cannot reach.
pub const RELOCATED_ROOT: &str = "/var/lib/crm";

/// The file in a data folder naming the folder its cluster lives in, when elsewhere.
pub const POINTER_FILE: &str = "cluster-dir";

/// The file in a relocated cluster's folder naming the data folder it was made for.
pub const DATA_FOLDER_NOTE: &str = "data-folder";

/// What a data folder says about its cluster before anything is checked on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Known {
    /// Its pointer file (or a choice agreeing with it) names this folder.
    Recorded(PathBuf),
    /// It holds a cluster itself (`pgdata/`).
    InPlace,
    /// A new cluster goes where the caller chose.
    Chosen(PathBuf),
    /// A new cluster: in the data folder if the server can reach it, else relocated.
    Undecided,
}

/// Where the cluster of `data_dir` is, from its pointer file (`recorded`), whether
/// it holds a cluster itself, and the folder the caller chose, if any (all absolute).
pub(super) fn known(
    data_dir: &Path,
    recorded: Option<PathBuf>,
    holds_cluster: bool,
    chosen: Option<&Path>,
) -> Result<Known, EmbeddedError> {
    let current = match (recorded, holds_cluster) {
        (Some(recorded), _) => Some(recorded),
        (None, true) => Some(data_dir.to_path_buf()),
        (None, false) => None,
    };
    match (current, chosen) {
        (Some(current), Some(chosen)) if current != chosen => Err(EmbeddedError::Conflict {
            data_dir: data_dir.to_path_buf(),
            current,
            chosen: chosen.to_path_buf(),
        }),
        (Some(current), _) if current == data_dir => Ok(Known::InPlace),
        (Some(current), _) => Ok(Known::Recorded(current)),
        (None, Some(chosen)) if chosen == data_dir => Ok(Known::InPlace),
        (None, Some(chosen)) => Ok(Known::Chosen(chosen.to_path_buf())),
        (None, None) => Ok(Known::Undecided),
    }
}

/// The folder under [`RELOCATED_ROOT`] for the cluster of `data_dir` (an absolute,
/// resolved path): the last two parts of its path, then 12 hex digits of the SHA-256
/// of the whole path, e.g. `/var/lib/crm/crm-crm-3961095fa3e8` for `/root/crm/.crm`.
pub fn relocated_dir(data_dir: &Path) -> PathBuf {
    let digest = hex::encode(Sha256::digest(data_dir.as_os_str().as_bytes()));
    let parts: Vec<String> = data_dir
        .iter()
        .skip(1)
        .map(|part| {
            part.to_string_lossy()
                .trim_start_matches('.')
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect::<String>()
        })
        .filter(|part| !part.is_empty())
        .collect();
    let name = parts[parts.len().saturating_sub(2)..].join("-");
    let name: String = name.chars().take(48).collect();
    let name = if name.is_empty() { "cluster" } else { &name };
    Path::new(RELOCATED_ROOT).join(format!("{name}-{}", &digest[..12]))
}

/// The folder the data folder's pointer file names, if it has one.
pub(super) fn read_pointer(data_dir: &Path) -> Result<Option<PathBuf>, EmbeddedError> {
    let file = data_dir.join(POINTER_FILE);
    match std::fs::read_to_string(&file) {
        Ok(content) => {
            let path = PathBuf::from(content.trim_end_matches('\n'));
            if path.is_absolute() && !content.trim().is_empty() {
                Ok(Some(path))
            } else {
                Err(EmbeddedError::BadPointer {
                    path: file,
                    content,
                })
            }
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(EmbeddedError::Io {
            what: "cannot read",
            path: file,
            source: err,
        }),
    }
}

/// Records in the data folder that its cluster lives in `cluster_dir` (a complete
/// file or none: written aside, then renamed into place).
pub(super) fn write_pointer(data_dir: &Path, cluster_dir: &Path) -> Result<(), EmbeddedError> {
    let file = data_dir.join(POINTER_FILE);
    let aside = data_dir.join(format!("{POINTER_FILE}.{}", std::process::id()));
    let mut content = cluster_dir.as_os_str().as_bytes().to_vec();
    content.push(b'\n');
    std::fs::write(&aside, content).map_err(|source| EmbeddedError::Io {
        what: "cannot write",
        path: aside.clone(),
        source,
    })?;
    std::fs::rename(&aside, &file).map_err(|source| EmbeddedError::Io {
        what: "cannot write",
        path: file,
        source,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_relocated_cluster_is_named_after_the_data_folder() {
        // sha256("/root/crm/.crm") = 3961095fa3e8… (sha256sum)
        assert_eq!(
            relocated_dir(Path::new("/root/crm/.crm")),
            Path::new("/var/lib/crm/crm-crm-3961095fa3e8")
        );
        // sha256("/tmp/a b/Données") = f80b2856f50e…: characters other than ASCII
        // letters, digits, - and _ become _.
        assert_eq!(
            relocated_dir(Path::new("/tmp/a b/Données")),
            Path::new("/var/lib/crm/a_b-Donn_es-f80b2856f50e")
        );
    }

    #[test]
    fn the_pointer_wins_and_a_contradicting_choice_is_refused() {
        let data = Path::new("/root/crm/.crm");
        let elsewhere = PathBuf::from("/var/lib/crm/crm-crm-3961095fa3e8");
        let other = PathBuf::from("/srv/crm");
        let recorded = || Some(elsewhere.clone());
        assert_eq!(
            known(data, recorded(), false, None).unwrap(),
            Known::Recorded(elsewhere.clone())
        );
        assert_eq!(
            known(data, recorded(), false, Some(&elsewhere)).unwrap(),
            Known::Recorded(elsewhere.clone())
        );
        assert!(matches!(
            known(data, recorded(), false, Some(&other)),
            Err(EmbeddedError::Conflict { .. })
        ));
        assert_eq!(known(data, None, true, None).unwrap(), Known::InPlace);
        assert_eq!(known(data, None, true, Some(data)).unwrap(), Known::InPlace);
        assert!(matches!(
            known(data, None, true, Some(&other)),
            Err(EmbeddedError::Conflict { .. })
        ));
        assert_eq!(
            known(data, None, false, Some(&other)).unwrap(),
            Known::Chosen(other.clone())
        );
        assert_eq!(known(data, None, false, None).unwrap(), Known::Undecided);
    }
}
