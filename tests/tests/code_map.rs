//! The map of the house (docs/architecture.md) against the tree, and the invariants
//! of the code that a reading of the sources can check.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The workspace's folder.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The crates' folders, each with its `src/`.
const CRATES: &[&str] = &["domain", "eventlog", "projections", "api", "cli", "tests"];

/// The `## Code map` section of docs/architecture.md.
fn code_map() -> String {
    let doc = std::fs::read_to_string(workspace().join("docs/architecture.md")).unwrap();
    let start = doc
        .find("## Code map")
        .expect("docs/architecture.md has a code map");
    let rest = &doc[start + 2..];
    let end = rest.find("\n## ").map_or(rest.len(), |i| i);
    rest[..end].to_owned()
}

/// The backticked paths of `text` that name something under a crate's `src/`.
fn paths_named(text: &str) -> BTreeSet<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|t| CRATES.iter().any(|c| t.starts_with(&format!("{c}/src/"))))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_path_of_the_code_map_exists_and_every_module_is_on_it() {
    let root = workspace();
    let named = paths_named(&code_map());
    assert!(named.len() > 80, "only {} paths named", named.len());
    for path in &named {
        assert!(
            root.join(path.trim_end_matches('/')).exists(),
            "docs/architecture.md names `{path}`, which does not exist"
        );
    }
    for krate in CRATES {
        let src = root.join(krate).join("src");
        for entry in std::fs::read_dir(&src).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let module = name.strip_suffix(".rs").unwrap_or(&name);
            let prefix = format!("{krate}/src/{module}");
            let covered = named.iter().any(|p| {
                p == &format!("{prefix}.rs")
                    || p.starts_with(&format!("{prefix}/"))
                    || (module == "bin" && p.starts_with(&prefix))
            });
            assert!(
                covered,
                "`{prefix}` is not on the code map of docs/architecture.md"
            );
        }
    }
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The lines of a source file that are code outside its test module (comments and
/// everything from the first `#[cfg(test)]` on left out).
fn code_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .take_while(|l| !l.trim_start().starts_with("#[cfg(test)]"))
        .filter(|l| !l.trim_start().starts_with("//"))
}

/// Whether `line` names a table of `schema` (`schema.table` after a space, quote or
/// bracket, as SQL does; not a Rust path like `state.projections.x`).
fn names_table_of(line: &str, schema: &str) -> bool {
    let pattern = format!("{schema}.");
    line.match_indices(&pattern).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + pattern.len()..].chars().next();
        matches!(before, None | Some(' ' | '"' | '(' | ',' | '\t'))
            && after.is_some_and(|c| c.is_ascii_lowercase() || c == '_' || c == '\\')
    })
}

#[test]
fn no_crate_names_another_crates_tables() {
    let owners = [
        ("eventlog", "eventlog"),
        ("vault", "eventlog"),
        ("projections", "projections"),
        ("api", "api"),
    ];
    let root = workspace();
    let mut checked = 0;
    for krate in CRATES.iter().filter(|c| **c != "tests") {
        let mut files = Vec::new();
        sources(&root.join(krate).join("src"), &mut files);
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for line in code_lines(&text) {
                for (schema, owner) in owners {
                    assert!(
                        *krate == owner || !names_table_of(line, schema),
                        "{} names a table of the `{schema}` schema, which only \
                         {owner}/ may touch: {line}",
                        file.display()
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 150, "only {checked} files read");
    // The check itself sees what it looks for.
    assert!(names_table_of(
        "    FROM eventlog.events WHERE position > $1",
        "eventlog"
    ));
    assert!(!names_table_of("state.projections.status()", "projections"));
}

/// The names in the `[dependencies]` table of a crate's Cargo.toml.
fn dependencies(krate: &str) -> BTreeSet<String> {
    let manifest = std::fs::read_to_string(workspace().join(krate).join("Cargo.toml")).unwrap();
    let mut in_deps = false;
    let mut names = BTreeSet::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
        } else if in_deps {
            if let Some((name, _)) = line.split_once(['=', '.']) {
                if !name.trim().is_empty() && !name.starts_with('#') {
                    names.insert(name.trim().to_owned());
                }
            }
        }
    }
    names
}

#[test]
fn the_crates_depend_downwards_only() {
    let domain = dependencies("domain");
    assert!(domain.contains("serde"), "read the domain's dependencies");
    for forbidden in [
        "sqlx",
        "tokio",
        "crm-eventlog",
        "crm-projections",
        "crm-api",
        "crm-cli",
    ] {
        assert!(
            !domain.contains(forbidden),
            "crm-domain depends on {forbidden}"
        );
    }
    let eventlog = dependencies("eventlog");
    assert!(eventlog.contains("sqlx"));
    for forbidden in ["crm-domain", "crm-projections", "crm-api", "crm-cli"] {
        assert!(
            !eventlog.contains(forbidden),
            "crm-eventlog depends on {forbidden}"
        );
    }
    let projections = dependencies("projections");
    for forbidden in ["crm-api", "crm-cli", "axum"] {
        assert!(
            !projections.contains(forbidden),
            "crm-projections depends on {forbidden}"
        );
    }
    let api = dependencies("api");
    assert!(api.contains("axum"));
    for forbidden in [
        "crm-cli",
        "clap",
        "indicatif",
        "hdrhistogram",
        "mimalloc",
        "anyhow",
    ] {
        assert!(!api.contains(forbidden), "crm-api depends on {forbidden}");
    }
}
