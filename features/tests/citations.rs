//! Every document the code and the docs cite is in this repository: each `docs/….md §N` (or, inside
//! `docs/`, `[x.md](x.md) §N`) names a section heading that exists, and nothing cites a document
//! kept outside the repository.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use features::service::workspace_dir;

/// Files that can hold a citation.
const EXTENSIONS: &[&str] = &[
    "rs", "lua", "sh", "md", "toml", "yml", "yaml", "feature", "example",
];

/// Directories never read (build output, fuzzing corpora).
const SKIPPED: &[&str] = &[
    ".git",
    "target",
    "corpus",
    "artifacts",
    "seeds",
    "node_modules",
];

/// At most this many files are read: the repository holds a few hundred.
const MAX_FILES: usize = 20_000;

#[test]
fn every_cited_section_exists_in_the_repository() {
    let root = workspace_dir();
    let files = sources(&root);
    assert!(
        files.len() > 100,
        "only {} files found under {}",
        files.len(),
        root.display()
    );
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for (line_no, line) in text.lines().enumerate() {
            for (doc, section) in citations(line) {
                checked += 1;
                let path = root.join("docs").join(&doc);
                if !headings(&path).contains(&section) {
                    broken.push(format!(
                        "{}:{}: docs/{doc} §{section}",
                        file.strip_prefix(&root).unwrap_or(file).display(),
                        line_no + 1
                    ));
                }
            }
        }
    }
    assert!(checked > 50, "only {checked} citations found");
    assert!(
        broken.is_empty(),
        "sections that do not exist:\n{}",
        broken.join("\n")
    );
}

#[test]
fn nothing_cites_a_document_outside_the_repository() {
    let root = workspace_dir();
    // Built from parts, so that this file does not cite them itself.
    let outside: Vec<String> = [
        "API",
        "AUTH",
        "DOMAIN",
        "LOCATIONS",
        "OBSERVABILITY",
        "CONFIG",
    ]
    .iter()
    .map(|name| format!("{}/{name}.md", "spec"))
    .chain([format!("{}.md", "ARCHITECTURE")])
    .collect();
    let mut found = Vec::new();
    for file in sources(&root) {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for (line_no, line) in text.lines().enumerate() {
            if outside.iter().any(|doc| line.contains(doc.as_str())) {
                let shown = file
                    .strip_prefix(&root)
                    .unwrap_or(&file)
                    .display()
                    .to_string();
                found.push(format!("{shown}:{}: {line}", line_no + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "citations of documents outside the repository:\n{}",
        found.join("\n")
    );
}

#[test]
fn citations_are_read_with_their_section_lists() {
    let cited = |line: &str| citations(line).into_iter().collect::<Vec<_>>();
    assert_eq!(
        cited("(docs/api.md §14.5–§14.8, docs/architecture.md §7)"),
        [
            ("api.md", "14.5"),
            ("api.md", "14.8"),
            ("architecture.md", "7")
        ]
        .map(|(d, s)| (d.to_owned(), s.to_owned()))
    );
    assert_eq!(
        cited("the bodies of `docs/api.md` §3.2 and §12."),
        [("api.md", "3.2"), ("api.md", "12")].map(|(d, s)| (d.to_owned(), s.to_owned()))
    );
    assert_eq!(
        cited("([api.md](api.md) §15)"),
        [("api.md".to_owned(), "15".to_owned())]
    );
    assert!(cited("see docs/RELIABILITY.md for figures").is_empty());
}

/// The `(document, section)` pairs cited on one line.
fn citations(line: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find(".md") {
        let name_start = rest[..at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .map_or(0, |i| {
                i + rest[i..].chars().next().map_or(1, char::len_utf8)
            });
        let doc = format!("{}.md", &rest[name_start..at]);
        let before = &rest[..name_start];
        let in_docs = before.ends_with("docs/") || before.ends_with('(') || before.ends_with('[');
        let mut tail = rest[at + 3..].trim_start_matches(['`', ')']);
        let mut sections = Vec::new();
        loop {
            let trimmed = tail
                .trim_start()
                .trim_start_matches([',', '–', '-'])
                .trim_start();
            let trimmed = trimmed.strip_prefix("and ").unwrap_or(trimmed);
            let Some(after) = trimmed.strip_prefix('§') else {
                break;
            };
            let after = after.trim_start();
            let end = after
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(after.len());
            let number = after[..end].trim_end_matches('.');
            if number.is_empty() {
                break;
            }
            sections.push(number.to_owned());
            tail = &after[end..];
        }
        if in_docs && !doc.starts_with('.') {
            found.extend(sections.into_iter().map(|section| (doc.clone(), section)));
        }
        rest = &rest[at + 3..];
    }
    found
}

/// The section numbers of a document's headings (`## 4. Title`, `### 3.1 Title`); none when the
/// document does not exist.
fn headings(path: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|line| line.strip_prefix('#'))
        .map(|line| line.trim_start_matches('#').trim_start())
        .filter_map(|title| title.split_whitespace().next())
        .map(|number| number.trim_end_matches('.').to_owned())
        .filter(|number| number.starts_with(|c: char| c.is_ascii_digit()))
        .collect()
}

/// Every file with a cited-document extension under `root`, build output and corpora left out.
fn sources(root: &Path) -> Vec<PathBuf> {
    let mut pending = vec![root.to_path_buf()];
    let mut files = Vec::new();
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                let build_output = path.join("CACHEDIR.TAG").exists();
                if !SKIPPED.contains(&name.as_str()) && !build_output {
                    pending.push(path);
                }
            } else if EXTENSIONS
                .iter()
                .any(|ext| name.ends_with(&format!(".{ext}")))
            {
                files.push(path);
            }
            assert!(
                files.len() < MAX_FILES,
                "more than {MAX_FILES} files under {}",
                root.display()
            );
        }
    }
    files
}
