//! `taoke tokenizer-diff A B`: the relation between two vocabularies.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use taoke_tokenizer::Vocab;

use crate::args::{Format, TokenizerDiffArgs};
use crate::output::Output;
use crate::Status;

/// Loads a vocabulary from a tokenizer file, or from a model (its GGUF metadata or the
/// tokenizer files beside its weights).
pub fn load(reference: &str) -> anyhow::Result<Vocab> {
    let p = Path::new(reference);
    let is_tokenizer_file = p.is_file()
        && p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(".json") || n.ends_with(".txt") || n == "tokenizer.model");
    if is_tokenizer_file {
        return taoke_tokenizer::load_file(p)
            .with_context(|| format!("cannot read tokenizer `{reference}`"));
    }
    let ck = taoke_model::open(reference).with_context(|| format!("cannot open `{reference}`"))?;
    if let Some(v) = taoke_evidence::view::vocab_of(&ck) {
        return Ok(v);
    }
    // A tokenizer file that is present but refused (unreadable, outside the folder, over its
    // cap, malformed): say why, not that there is none.
    if let Some(folder) = &ck.folder {
        taoke_tokenizer::load_dir(folder)
            .with_context(|| format!("cannot read the tokenizer of `{reference}`"))?;
    }
    Err(anyhow::anyhow!(
        "`{reference}` has no tokenizer (no GGUF tokenizer metadata, no tokenizer files beside it)"
    ))
}

/// Runs `taoke tokenizer-diff`.
pub fn run(args: TokenizerDiffArgs, out: &Output) -> anyhow::Result<Status> {
    let TokenizerDiffArgs { a, b, format } = args;
    let (va, vb) = (load(&a)?, load(&b)?);
    let c = taoke_tokenizer::compare(&va, &vb);
    let text = match format {
        Format::Json => {
            let mut v = serde_json::to_value(&c)?;
            if let Some(o) = v.as_object_mut() {
                o.insert("schema_version".into(), 1.into());
                o.insert("summary".into(), c.summary().into());
            }
            serde_json::to_string_pretty(&v)? + "\n"
        }
        Format::Terminal => {
            let mut s = String::new();
            let _ = writeln!(
                s,
                "{}: {}",
                out.bold(&c.relation.name().to_uppercase()),
                c.summary()
            );
            let _ = writeln!(
                s,
                "  A: {} tokens, {} merges ({})",
                c.len_a, c.merges_a, va.source
            );
            let _ = writeln!(
                s,
                "  B: {} tokens, {} merges ({})",
                c.len_b, c.merges_b, vb.source
            );
            let _ = writeln!(
                s,
                "  Jaccard {:.5}, shared {}, equal ids {} ({:.2} %), merges identical: {}",
                c.jaccard,
                c.shared_tokens,
                c.equal_ids,
                100.0 * c.equal_id_fraction,
                c.merges_identical
            );
            s
        }
    };
    out.write_data(None, &text)?;
    Ok(Status::Ok)
}
