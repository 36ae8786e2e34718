//! Report digests: the sha256 of a comparison's JSON report with the machine-specific parts
//! (the two model paths) replaced by portable labels. A refactor of the evidence engine that
//! must not change any report is checked by comparing these digests before and after
//! (`tests/small_profile.rs` for the small zoo, `tests/report_digests.rs` for the real pairs).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use sha2::{Digest, Sha256};
use taoke_evidence::Comparison;

/// sha256 (hex) of `c`'s pretty JSON with `a.path` and `b.path` set to the given labels.
pub fn report_digest(c: &Comparison, a_label: &str, b_label: &str) -> String {
    let mut c = c.clone();
    c.a.path = a_label.to_owned();
    c.b.path = b_label.to_owned();
    let json = serde_json::to_string_pretty(&c).expect("a comparison serializes");
    hex(&Sha256::digest(json.as_bytes()))
}

/// sha256 (hex) of every regular file below `dir`, in path order, each hashed with its
/// relative path: names the exact bytes a set of digests was made on.
pub fn tree_digest(dir: &Path) -> std::io::Result<String> {
    let mut files = Vec::new();
    collect(dir, dir, &mut files)?;
    files.sort();
    let mut h = Sha256::new();
    for rel in files {
        h.update(rel.as_bytes());
        h.update([0]);
        h.update(std::fs::read(dir.join(&rel))?);
    }
    Ok(hex(&h.finalize()))
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let t = e.file_type()?;
        let name = e.file_name();
        // The zoo's recipe cache and build scratch are not part of the models.
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        if t.is_dir() {
            collect(root, &e.path(), out)?;
        } else if t.is_file() {
            let rel = e.path();
            let rel = rel.strip_prefix(root).unwrap_or(&rel);
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(())
}

fn hex(b: &[u8]) -> String {
    b.iter().fold(String::with_capacity(64), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

/// A digest file: a first line `# inputs <sha256>` naming the inputs the digests were made
/// on, then `label<TAB>digest` lines in label order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestFile {
    /// Digest of the inputs ([`tree_digest`] of the zoo, or of the real files).
    pub inputs: String,
    /// Pair label → report digest.
    pub reports: BTreeMap<String, String>,
}

impl DigestFile {
    /// Parses the text form.
    pub fn parse(text: &str) -> Option<DigestFile> {
        let mut lines = text.lines();
        let inputs = lines.next()?.strip_prefix("# inputs ")?.trim().to_owned();
        let mut reports = BTreeMap::new();
        for l in lines.filter(|l| !l.trim().is_empty()) {
            let (k, v) = l.split_once('\t')?;
            reports.insert(k.to_owned(), v.trim().to_owned());
        }
        Some(DigestFile { inputs, reports })
    }

    /// The text form.
    pub fn render(&self) -> String {
        let mut s = format!("# inputs {}\n", self.inputs);
        for (k, v) in &self.reports {
            let _ = writeln!(s, "{k}\t{v}");
        }
        s
    }

    /// Checks `got` against the committed file at `path`, or writes it there when the
    /// environment variable `TAOKE_BLESS` is set. Returns the labels whose digests differ
    /// (empty when all agree). When the inputs differ from those the file was made on
    /// (another zoo build), the reports cannot be compared: `Err` says so.
    pub fn check(&self, path: &Path) -> Result<Vec<String>, String> {
        if std::env::var_os("TAOKE_BLESS").is_some() {
            std::fs::write(path, self.render()).map_err(|e| format!("{}: {e}", path.display()))?;
            return Ok(Vec::new());
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let want =
            DigestFile::parse(&text).ok_or_else(|| format!("{}: malformed", path.display()))?;
        if want.inputs != self.inputs {
            return Err(format!(
                "the inputs differ from those {} was made on ({} here, {} there): report digests not comparable",
                path.display(),
                self.inputs,
                want.inputs
            ));
        }
        let mut bad: Vec<String> = want
            .reports
            .iter()
            .filter(|(k, v)| self.reports.get(*k) != Some(v))
            .map(|(k, _)| k.clone())
            .collect();
        bad.extend(
            self.reports
                .keys()
                .filter(|k| !want.reports.contains_key(*k))
                .cloned(),
        );
        Ok(bad)
    }
}
