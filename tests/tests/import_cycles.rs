//! No import cycle inside a crate: module A uses B and B uses A means
//! neither can be read, changed or moved without the other. This reads
//! every crate's sources, takes each file as a module, follows its
//! `crate::…` and `super::…` paths (test modules and the crate root's
//! re-exports left out), and lists the cycles (strongly connected groups
//! of modules).
//!
//! No crate has a cycle now; the check fails when one appears (or a cycle
//! allowed for a while in `KNOWN` grows or is gone but still listed).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use storeflow_tests::repo_root;

/// Cycles allowed for now: (crate folder, the modules of one cycle).
/// Empty: no crate has one. A cycle that must stay a while (during a move)
/// goes here, and the check asks for it to be taken off once it is gone.
const KNOWN: &[(&str, &[&str])] = &[];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `src/a/b.rs` → `a::b`; `src/a/mod.rs` → `a`; `lib.rs`/`main.rs` → ``.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|l| l == "mod") {
        parts.pop();
    }
    if parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main") {
        parts.clear();
    }
    parts.join("::")
}

/// The code without line comments and without the test module at its end.
fn code_of(text: &str) -> String {
    // The test module (`#[cfg(test)] mod tests`), not every item gated on
    // tests.
    let tests = text.match_indices("#[cfg(test)]").find(|(i, m)| {
        text[i + m.len()..]
            .trim_start()
            .strip_prefix("mod ")
            .is_some()
    });
    let text = match tests {
        Some((i, _)) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The paths after `prefix` (`crate::` or `super::`), braces expanded:
/// `crate::{a::B, c}` gives `a::B` and `c`.
fn paths_after(code: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        let before_ok = rest[..i]
            .chars()
            .last()
            .is_none_or(|c| !is_ident(c) && c != ':');
        rest = &rest[i + prefix.len()..];
        if before_ok {
            expand(rest, Vec::new(), &mut out);
        }
    }
    out
}

fn expand(s: &str, base: Vec<String>, out: &mut Vec<Vec<String>>) {
    let s = s.trim_start();
    if let Some(inner) = s.strip_prefix('{') {
        // Split the group at its top-level commas.
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    expand(&inner[start..i], base.clone(), out);
                    return;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&inner[start..i], base.clone(), out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        return;
    }
    let name: String = s.chars().take_while(|c| is_ident(*c)).collect();
    if name.is_empty() {
        if !base.is_empty() {
            out.push(base);
        }
        return;
    }
    let mut path = base;
    path.push(name.clone());
    let after = &s[name.len()..];
    match after.strip_prefix("::") {
        Some(more) => expand(more, path, out),
        None => out.push(path),
    }
}

/// Every cycle of modules in the crate whose sources are under `src`.
fn cycles(src: &Path) -> Vec<BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeMap<String, String> = files
        .iter()
        .map(|f| {
            (
                module_of(src, f),
                code_of(&std::fs::read_to_string(f).unwrap()),
            )
        })
        .collect();
    let resolve = |path: &[String]| -> Option<String> {
        (1..=path.len())
            .rev()
            .map(|n| path[..n].join("::"))
            .find(|m| modules.contains_key(m))
    };
    let mut edges: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (m, code) in &modules {
        if m.is_empty() {
            continue;
        }
        let own: Vec<String> = m.split("::").map(String::from).collect();
        let mut targets: Vec<Vec<String>> = paths_after(code, "crate::");
        for p in paths_after(code, "super::") {
            // `super::super::x`: one level up per `super`.
            let ups = 1 + p.iter().take_while(|s| *s == "super").count();
            let mut full = own[..own.len().saturating_sub(ups)].to_vec();
            full.extend(p.into_iter().skip(ups - 1));
            targets.push(full);
        }
        for t in targets {
            if let Some(to) = resolve(&t) {
                // Not itself, not the root (its `pub use`s), not an
                // ancestor's `mod` declaration of a child.
                if !to.is_empty() && &to != m && !m.starts_with(&format!("{to}::")) {
                    edges.entry(m).or_default().insert(to);
                }
            }
        }
    }
    strongly_connected(&modules.keys().cloned().collect::<Vec<_>>(), &edges)
        .into_iter()
        .filter(|c| c.len() > 1)
        .collect()
}

/// Tarjan's strongly connected components.
fn strongly_connected(
    nodes: &[String],
    edges: &BTreeMap<&str, BTreeSet<String>>,
) -> Vec<BTreeSet<String>> {
    struct S<'a> {
        edges: &'a BTreeMap<&'a str, BTreeSet<String>>,
        index: BTreeMap<String, usize>,
        low: BTreeMap<String, usize>,
        stack: Vec<String>,
        on: BTreeSet<String>,
        out: Vec<BTreeSet<String>>,
    }
    fn visit(s: &mut S<'_>, v: &str) {
        let i = s.index.len();
        s.index.insert(v.to_string(), i);
        s.low.insert(v.to_string(), i);
        s.stack.push(v.to_string());
        s.on.insert(v.to_string());
        let next: Vec<String> = s.edges.get(v).into_iter().flatten().cloned().collect();
        for w in next {
            if !s.index.contains_key(&w) {
                visit(s, &w);
                let lw = s.low[&w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on.contains(&w) {
                let iw = s.index[&w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut group = BTreeSet::new();
            while let Some(w) = s.stack.pop() {
                s.on.remove(&w);
                let done = w == v;
                group.insert(w);
                if done {
                    break;
                }
            }
            s.out.push(group);
        }
    }
    let mut s = S {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for n in nodes {
        if !s.index.contains_key(n) {
            visit(&mut s, n);
        }
    }
    s.out
}

#[test]
fn paths_are_read_with_their_groups() {
    let got = paths_after(
        "use crate::{a::B, c::{d, e::F}};\nlet x = crate::g::h(1);",
        "crate::",
    );
    let got: Vec<String> = got.iter().map(|p| p.join("::")).collect();
    assert_eq!(got, ["a::B", "c::d", "c::e::F", "g::h"]);
}

#[test]
fn a_made_up_cycle_is_found() {
    let dir = storeflow_tests::temp_dir("cycles");
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("x")).unwrap();
    std::fs::write(
        src.join("lib.rs"),
        "pub mod a; pub mod b; pub mod c; pub mod x;",
    )
    .unwrap();
    std::fs::write(src.join("a.rs"), "use crate::b::B;").unwrap();
    std::fs::write(
        src.join("b.rs"),
        "pub struct B; fn f() { crate::x::y::g() }",
    )
    .unwrap();
    std::fs::write(src.join("c.rs"), "use crate::a;").unwrap();
    std::fs::write(src.join("x/mod.rs"), "pub mod y;").unwrap();
    std::fs::write(src.join("x/y.rs"), "use super::super::a; pub fn g() {}").unwrap();
    let found = cycles(&src);
    let want: BTreeSet<String> = ["a", "b", "x::y"].map(String::from).into();
    assert_eq!(found, vec![want]);
}

#[test]
fn no_new_import_cycle_in_any_crate() {
    let root = repo_root();
    let mut report = Vec::new();
    let mut new = Vec::new();
    for group in ["shared", "functions"] {
        let mut crates: Vec<PathBuf> = std::fs::read_dir(root.join(group))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        crates.sort();
        for c in crates {
            let name = format!("{group}/{}", c.file_name().unwrap().to_string_lossy());
            for cycle in cycles(&c.join("src")) {
                let list: Vec<&str> = cycle.iter().map(String::as_str).collect();
                report.push(format!("{name}: {}", list.join(" ↔ ")));
                let known = KNOWN
                    .iter()
                    .any(|(k, mods)| *k == name && list.iter().all(|m| mods.contains(m)));
                if !known {
                    new.push(format!("{name}: {}", list.join(" ↔ ")));
                }
            }
        }
    }
    println!(
        "import cycles ({}):\n  {}",
        report.len(),
        report.join("\n  ")
    );
    assert!(new.is_empty(), "new import cycles:\n  {}", new.join("\n  "));
    for (k, mods) in KNOWN {
        assert!(
            report
                .iter()
                .any(|r| r.starts_with(&format!("{k}: ")) && mods.iter().all(|m| r.contains(m))),
            "the known cycle {k}: {mods:?} is broken up: take it off KNOWN"
        );
    }
}
