//! Mechanical style checks (STYLE.md §10), as a test so CI enforces them: lines of at most 100
//! characters, a `//!` header on every source file, and no `unwrap()`/`expect(` in the codec's
//! non-test code (peer input must never panic there).
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
