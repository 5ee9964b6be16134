//! The source tree stays readable: within a crate no two files import each other (directly or
//! round a longer loop), and no file of `node`, `testnet` or `interface` outgrows one sitting.
//! Checked on the workspace's own sources, so a change that breaks either fails the suite.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const CRATES: [&str; 7] = [
    "ledger",
    "consensus",
    "interface",
    "node",
    "testnet",
    "cli",
    "benches",
];

/// Lines a file may hold before its unit tests, in the crates a new engineer reads first.
const MAX_LINES: usize = 450;
const LINE_BOUNDED: [&str; 3] = ["node", "testnet", "interface"];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cli sits in the workspace")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A file's text without its unit tests (a `tests.rs` file is all test).
fn non_test_text(path: &Path) -> String {
    if path.file_name().is_some_and(|n| n == "tests.rs") {
        return String::new();
    }
    let text = std::fs::read_to_string(path).expect("readable source");
    let test_module = text.match_indices("#[cfg(test)]\n").find(|(i, m)| {
        let next = &text[i + m.len()..];
        ["mod tests", "pub(crate) mod tests", "pub mod tests"]
            .iter()
            .any(|start| next.starts_with(start))
    });
    match test_module {
        Some((i, _)) => text[..i].to_string(),
        None => text,
    }
}

/// The module path of a file under `src`: `a/b.rs` and `a/b/mod.rs` are `[a, b]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file
        .strip_prefix(src)
        .expect("under src")
        .with_extension("");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The file that defines the longest prefix of `path` that is a module.
fn file_of(src: &Path, path: &[String]) -> Option<PathBuf> {
    (0..=path.len()).rev().find_map(|n| {
        let prefix = &path[..n];
        let candidates = if prefix.is_empty() {
            vec![src.join("lib.rs"), src.join("main.rs")]
        } else {
            let base = prefix.iter().fold(src.to_path_buf(), |p, s| p.join(s));
            vec![base.with_extension("rs"), base.join("mod.rs")]
        };
        candidates.into_iter().find(|c| c.is_file())
    })
}

/// Read `a::b::{c, d::e}` from the start of `rest`: every path it names.
fn paths_at(rest: &str) -> Vec<Vec<String>> {
    let mut segments = Vec::new();
    let mut s = rest;
    loop {
        let len = s
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(s.len());
        if len == 0 {
            break;
        }
        segments.push(s[..len].to_string());
        s = &s[len..];
        match s.strip_prefix("::") {
            Some(after) => s = after,
            None => return vec![segments],
        }
    }
    let Some(group) = s.strip_prefix('{') else {
        return vec![segments];
    };
    // Split the group's top level on commas.
    let (mut depth, mut start, mut items) = (0, 0, Vec::new());
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[start..i]);
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    let mut out = vec![segments.clone()];
    for item in items {
        for tail in paths_at(item.trim()) {
            let mut path = segments.clone();
            path.extend(tail.into_iter().filter(|s| s != "self"));
            out.push(path);
        }
    }
    out
}

/// Each file of a crate and the other files of the crate it names by `crate::` or `super::`.
fn imports(src: &Path) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut edges = BTreeMap::new();
    for file in files {
        let module = module_of(src, &file);
        let mut targets = BTreeSet::new();
        for line in non_test_text(&file).lines() {
            let code = line.split("//").next().unwrap_or("");
            for (at, _) in code
                .match_indices("crate::")
                .chain(code.match_indices("super::"))
            {
                if code[..at]
                    .chars()
                    .last()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
                {
                    continue;
                }
                let (mut base, mut rest) = if code[at..].starts_with("crate::") {
                    (vec![], &code[at + 7..])
                } else {
                    (
                        module[..module.len().saturating_sub(1)].to_vec(),
                        &code[at + 7..],
                    )
                };
                while let Some(after) = rest.strip_prefix("super::") {
                    base.pop();
                    rest = after;
                }
                for path in paths_at(rest) {
                    let full: Vec<String> = base.iter().cloned().chain(path).collect();
                    if let Some(target) = file_of(src, &full)
                        && target != file
                    {
                        targets.insert(target);
                    }
                }
            }
        }
        edges.insert(file, targets);
    }
    edges
}

/// The files on a loop of imports, one loop per set of files that all reach each other.
fn loops(edges: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<BTreeSet<PathBuf>> {
    let reach = |from: &PathBuf| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.clone()];
        while let Some(f) = stack.pop() {
            for t in edges.get(&f).into_iter().flatten() {
                if seen.insert(t.clone()) {
                    stack.push(t.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&PathBuf, BTreeSet<PathBuf>> =
        edges.keys().map(|f| (f, reach(f))).collect();
    let mut out: Vec<BTreeSet<PathBuf>> = Vec::new();
    for (f, r) in &reaches {
        if !r.contains(*f) || out.iter().any(|l| l.contains(*f)) {
            continue;
        }
        let members = r
            .iter()
            .filter(|g| reaches.get(g).is_some_and(|rg| rg.contains(*f)))
            .cloned()
            .collect();
        out.push(members);
    }
    out
}

#[test]
fn no_two_files_of_a_crate_import_each_other() {
    let root = workspace();
    let mut found = Vec::new();
    for krate in CRATES {
        let src = root.join(krate).join("src");
        for l in loops(&imports(&src)) {
            let names: Vec<String> = l
                .iter()
                .map(|f| f.strip_prefix(&root).unwrap_or(f).display().to_string())
                .collect();
            found.push(names.join(" <-> "));
        }
    }
    assert!(
        found.is_empty(),
        "files that import each other (move what both need into a file of its own):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_import_check_sees_a_loop() {
    let dir = std::env::temp_dir().join(format!("lantau-layout-{}", std::process::id()));
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("a")).expect("temp dir");
    std::fs::write(src.join("lib.rs"), "mod a;\nmod b;\n").expect("write");
    std::fs::write(src.join("a/mod.rs"), "use crate::b::{self, Thing};\n").expect("write");
    std::fs::write(src.join("b.rs"), "pub fn f() { crate::a::g(); }\n").expect("write");
    std::fs::write(
        src.join("c.rs"),
        "use super::b::f; // crate::a in a comment\n",
    )
    .expect("write");
    let edges = imports(&src);
    let found = loops(&edges);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].len(), 2);
    assert!(edges[&src.join("c.rs")].contains(&src.join("b.rs")));
    assert!(!edges[&src.join("c.rs")].contains(&src.join("a/mod.rs")));
}

#[test]
fn no_file_outgrows_one_sitting() {
    let root = workspace();
    let mut long = Vec::new();
    for krate in LINE_BOUNDED {
        let mut files = Vec::new();
        rust_files(&root.join(krate).join("src"), &mut files);
        for file in files {
            let lines = non_test_text(&file).lines().count();
            if lines > MAX_LINES {
                let name = file
                    .strip_prefix(&root)
                    .unwrap_or(&file)
                    .display()
                    .to_string();
                long.push(format!("{name}: {lines} lines"));
            }
        }
    }
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines before their tests (split them by job):\n{}",
        long.join("\n")
    );
}
