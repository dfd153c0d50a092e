//! Mechanical style checks (STYLE.md §10), as a test so CI enforces them: lines of at most 100
//! characters, a `//!` header on every source file, no `unwrap()`/`expect(` in the codec's
//! non-test code (peer input must never panic there), and the layering of `src/`: the module
//! import graph points down the declared [`LAYERS`] only, without circles (STYLE.md §12).
use std::path::{Path, PathBuf};

const LINE_LENGTH_MAX: usize = 100;

fn rust_files(directory: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(directory) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if !path.ends_with("fuzz") && !path.ends_with("target") {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            out.push(path);
        }
    }
}

fn sources() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for directory in ["src", "bench", "tests"] {
        rust_files(&root.join(directory), &mut files);
    }
    assert!(files.len() > 50, "found only {} files", files.len());
    files
}

#[test]
fn lines_fit_in_100_columns() {
    let mut long = Vec::new();
    for path in sources() {
        let text = std::fs::read_to_string(&path).unwrap();
        for (index, line) in text.lines().enumerate() {
            if line.chars().count() > LINE_LENGTH_MAX {
                long.push(format!("{}:{}", path.display(), index + 1));
            }
        }
    }
    assert!(
        long.is_empty(),
        "lines over {LINE_LENGTH_MAX} columns: {long:#?}"
    );
}

#[test]
fn every_source_file_opens_with_a_module_doc() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let missing: Vec<_> = files
        .iter()
        .filter(|path| !std::fs::read_to_string(path).unwrap().starts_with("//!"))
        .collect();
    assert!(
        missing.is_empty(),
        "files without a //! header: {missing:#?}"
    );
}

#[test]
fn codec_has_no_unwrap_outside_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/protocol");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut offenders = Vec::new();
    for path in files {
        if path.ends_with("testing.rs") {
            continue; // test-support code, never reached from peer input
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let production = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (index, line) in production.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if code.contains(".unwrap()") || code.contains(".expect(") {
                offenders.push(format!("{}:{}", path.display(), index + 1));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "unwrap/expect in codec code: {offenders:#?}"
    );
}

// ---- Layers: the module import graph points down only (STYLE.md §12, docs/ARCHITECTURE.md) ----

/// The declared layer order, top to bottom. A module may import only from a strictly lower
/// layer; modules that share a layer may not import each other. `main` is the binary
/// (`src/main.rs`, importing through `ringbroker::`). Every top-level module of `lib.rs` must
/// be listed, so a new module has to choose its place.
const LAYERS: &[&[&str]] = &[
    &["main", "bin"],
    &["cli"],
    &["client"],
    &["net"],
    &["handlers"],
    &["failpoints", "metrics"],
    &["broker", "sim"],
    &["group", "security"],
    &["replication"],
    &["cluster"],
    &["storage"],
    &["shard"],
    &["config", "protocol"],
    &["limits", "planted_bugs"],
];

/// Modules the shard runtime must never name (the explicit check).
const SHARD_FORBIDDEN: &[&str] = &["broker", "cluster", "group", "handlers", "net", "metrics"];

/// An import edge between two top-level modules, with one place that makes it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Edge {
    from: String,
    to: String,
    at: String,
}

/// The module path of a source file under `src/`: `group/api.rs` → `[group, api]`,
/// `group/mod.rs` → `[group]`, `main.rs` → `[main]`, `lib.rs` → `[]`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut path: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    if let Some(last) = path.pop() {
        let stem = last.trim_end_matches(".rs");
        if stem != "mod" && stem != "lib" {
            path.push(stem.to_owned());
        }
    }
    path
}

/// `text` without `//` comments and `/* */` blocks (strings are not parsed: a `//` inside a
/// string cuts the rest of its line, which can only hide a reference, never invent one).
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let line_comment = rest.find("//");
        let block_comment = rest.find("/*");
        let block_first = match (line_comment, block_comment) {
            (Some(line), Some(block)) => block < line,
            (None, Some(_)) => true,
            (_, None) => false,
        };
        if let (true, Some(block)) = (block_first, block_comment) {
            out.push_str(&rest[..block]);
            rest = rest[block..]
                .find("*/")
                .map_or("", |end| &rest[block + end + 2..]);
        } else if let Some(line) = line_comment {
            out.push_str(&rest[..line]);
            rest = rest[line..]
                .find('\n')
                .map_or("", |end| &rest[line + end..]);
        } else {
            out.push_str(rest);
            rest = "";
        }
    }
    out
}

fn is_ident_char(character: char) -> bool {
    character.is_ascii_alphanumeric() || character == '_'
}

/// The first path segment of each item at `text`'s start: `a::b` → `[a]`,
/// `{a::b, c, d::{e, f}}` → `[a, c, d]`, `*` → `[]`.
fn first_segments(text: &str) -> Vec<String> {
    let text = text.trim_start();
    if let Some(group) = text.strip_prefix('{') {
        let mut segments = Vec::new();
        let mut depth = 0usize;
        let mut item_start = true;
        for (index, character) in group.char_indices() {
            match character {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => item_start = true,
                _ if item_start && is_ident_char(character) => {
                    let name: String = group[index..]
                        .chars()
                        .take_while(|c| is_ident_char(*c))
                        .collect();
                    segments.push(name);
                    item_start = false;
                }
                _ if character.is_whitespace() => {}
                _ => item_start = false,
            }
        }
        return segments;
    }
    let name: String = text.chars().take_while(|c| is_ident_char(*c)).collect();
    if name.is_empty() {
        Vec::new()
    } else {
        vec![name]
    }
}

/// The top-level modules `text` (the file of module `path`) refers to: `crate::x…` (or
/// `ringbroker::x…` from the binary) and `super::…` chains that leave the top-level module.
fn references(path: &[String], text: &str, root: &str) -> Vec<String> {
    let code = strip_comments(text);
    let mut found = Vec::new();
    for prefix in ["crate::", root] {
        for (index, _) in code.match_indices(prefix) {
            let before = code[..index].chars().next_back();
            if before.is_some_and(|c| is_ident_char(c) || c == ':') {
                continue; // a longer identifier, or the middle of a path
            }
            found.extend(first_segments(&code[index + prefix.len()..]));
        }
    }
    for (index, _) in code.match_indices("super::") {
        let before = code[..index].chars().next_back();
        if before.is_some_and(|c| is_ident_char(c) || c == ':') {
            continue; // not the start of a chain
        }
        let mut rest = &code[index..];
        let mut depth = 0;
        while let Some(after) = rest.strip_prefix("super::") {
            depth += 1;
            rest = after;
        }
        // Inline modules (`mod tests`) are not tracked, so a chain may look one level shorter
        // than it is; it then resolves inside the same file's module, which adds no edge.
        if depth >= path.len() {
            found.extend(first_segments(rest));
        }
    }
    found
}

/// The top-level modules declared in `lib.rs`, plus `main` and `bin` (the binaries in
/// `src/bin/`, such as `ringsim`: like `main`, they sit above every library module).
fn top_level_modules(root: &Path) -> Vec<String> {
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    let mut modules: Vec<String> = strip_comments(&lib)
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let declaration = line
                .strip_prefix("pub mod ")
                .or_else(|| line.strip_prefix("mod "))?;
            Some(declaration.trim_end_matches(';').trim().to_owned())
        })
        .collect();
    modules.push("main".to_owned());
    modules.push("bin".to_owned());
    modules
}

/// Every import edge between distinct top-level modules of `src/`.
fn import_graph(root: &Path) -> Vec<Edge> {
    let modules = top_level_modules(root);
    let source = root.join("src");
    let mut files = Vec::new();
    rust_files(&source, &mut files);
    let mut edges = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&source).unwrap();
        let path = module_path(relative);
        let Some(from) = path.first() else { continue };
        let text = std::fs::read_to_string(&file).unwrap();
        for to in references(&path, &text, "ringbroker::") {
            if &to != from && modules.contains(&to) {
                let at = relative.display().to_string();
                edges.push(Edge {
                    from: from.clone(),
                    to,
                    at,
                });
            }
        }
    }
    edges.sort();
    edges.dedup_by(|a, b| a.from == b.from && a.to == b.to);
    edges
}

fn layer_of(layers: &[&[&str]], module: &str) -> Option<usize> {
    layers.iter().position(|layer| layer.contains(&module))
}

/// Edges that do not point strictly down the declared layers, and modules with no layer.
fn layer_violations(edges: &[Edge], layers: &[&[&str]]) -> Vec<String> {
    let mut violations = Vec::new();
    for edge in edges {
        match (layer_of(layers, &edge.from), layer_of(layers, &edge.to)) {
            (Some(from), Some(to)) if from < to => {}
            (Some(_), Some(_)) => violations.push(format!(
                "{} → {} points up or sideways ({})",
                edge.from, edge.to, edge.at
            )),
            _ => violations.push(format!(
                "{} → {}: a module without a declared layer ({})",
                edge.from, edge.to, edge.at
            )),
        }
    }
    violations
}

/// The import circles of `edges`: one cycle per strongly connected component with more than
/// one module (depth-first search; the graph has a few dozen edges).
fn import_cycles(edges: &[Edge]) -> Vec<Vec<String>> {
    let mut nodes: Vec<&str> = edges
        .iter()
        .flat_map(|e| [e.from.as_str(), e.to.as_str()])
        .collect();
    nodes.sort_unstable();
    nodes.dedup();
    let reaches = |start: &str, goal: &str| {
        let mut stack = vec![start];
        let mut seen = vec![start];
        while let Some(node) = stack.pop() {
            for edge in edges.iter().filter(|edge| edge.from == node) {
                if edge.to == goal {
                    return true;
                }
                if !seen.contains(&edge.to.as_str()) {
                    seen.push(&edge.to);
                    stack.push(&edge.to);
                }
            }
        }
        false
    };
    let mut cycles: Vec<Vec<String>> = Vec::new();
    for node in &nodes {
        if cycles
            .iter()
            .any(|cycle| cycle.iter().any(|member| member == node))
        {
            continue;
        }
        let component: Vec<String> = nodes
            .iter()
            .filter(|other| other != &node && reaches(node, other) && reaches(other, node))
            .map(|other| (*other).to_owned())
            .collect();
        if !component.is_empty() {
            let mut cycle = vec![(*node).to_owned()];
            cycle.extend(component);
            cycles.push(cycle);
        }
    }
    cycles
}

#[test]
fn imports_point_down_the_declared_layers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let edges = import_graph(root);
    assert!(
        edges.len() > 20,
        "found only {} edges: {edges:#?}",
        edges.len()
    );
    let modules = top_level_modules(root);
    let undeclared: Vec<_> = modules
        .iter()
        .filter(|m| layer_of(LAYERS, m).is_none())
        .collect();
    assert!(
        undeclared.is_empty(),
        "modules without a layer: {undeclared:?}"
    );
    let unknown: Vec<_> = LAYERS
        .iter()
        .flat_map(|layer| layer.iter())
        .filter(|name| !modules.iter().any(|module| module == *name))
        .collect();
    assert!(
        unknown.is_empty(),
        "layers name modules that do not exist: {unknown:?}"
    );
    let violations = layer_violations(&edges, LAYERS);
    assert!(violations.is_empty(), "{violations:#?}\ngraph: {edges:#?}");
    let cycles = import_cycles(&edges);
    assert!(cycles.is_empty(), "import circles: {cycles:?}");
}

#[test]
fn shard_runtime_names_no_subsystem_above_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let upward: Vec<Edge> = import_graph(root)
        .into_iter()
        .filter(|edge| edge.from == "shard" && SHARD_FORBIDDEN.contains(&edge.to.as_str()))
        .collect();
    assert!(
        upward.is_empty(),
        "src/shard/ imports from above: {upward:#?}"
    );
}

/// The checks on a small fake graph, so they are known to fail when they should.
#[test]
fn layer_checks_catch_upward_edges_and_circles() {
    let edge = |from: &str, to: &str| Edge {
        from: from.to_owned(),
        to: to.to_owned(),
        at: "fake.rs".to_owned(),
    };
    let layers: &[&[&str]] = &[&["top"], &["middle", "side"], &["bottom"]];
    let clean = [
        edge("top", "middle"),
        edge("middle", "bottom"),
        edge("top", "bottom"),
    ];
    assert!(layer_violations(&clean, layers).is_empty());
    assert!(import_cycles(&clean).is_empty());
    let upward = [edge("bottom", "top")];
    assert_eq!(layer_violations(&upward, layers).len(), 1);
    let sideways = [edge("middle", "side")];
    assert_eq!(layer_violations(&sideways, layers).len(), 1);
    let undeclared = [edge("top", "nowhere")];
    assert_eq!(layer_violations(&undeclared, layers).len(), 1);
    let circle = [
        edge("top", "middle"),
        edge("middle", "bottom"),
        edge("bottom", "top"),
    ];
    let cycles = import_cycles(&circle);
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert_eq!(cycles[0].len(), 3, "{cycles:?}");
}

/// The reference parser on the shapes `src/` uses.
#[test]
fn references_are_read_from_paths_groups_and_super_chains() {
    let path = |parts: &[&str]| {
        parts
            .iter()
            .map(|part| (*part).to_owned())
            .collect::<Vec<_>>()
    };
    let text = "use crate::{alpha::A, beta, gamma::{x, y}};\n\
                // use crate::commented::Out;\n\
                use crate::delta::D; /* crate::block */\n\
                fn f() { crate::epsilon::call(); not_crate::zeta::g(); }\n\
                use super::sibling;\n\
                use super::super::eta::E;\n";
    let found = references(&path(&["top", "file"]), text, "ringbroker::");
    assert_eq!(found, ["alpha", "beta", "gamma", "delta", "epsilon", "eta"]);
    let from_binary = references(
        &path(&["main"]),
        "use ringbroker::net::{A};",
        "ringbroker::",
    );
    assert_eq!(from_binary, ["net"]);
    assert_eq!(module_path(Path::new("group/mod.rs")), ["group"]);
    assert_eq!(module_path(Path::new("group/api.rs")), ["group", "api"]);
}
