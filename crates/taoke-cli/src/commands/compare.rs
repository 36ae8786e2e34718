//! `taoke compare A B`: the verdict, the evidence behind it and the layer map, as terminal text,
//! JSON, Markdown or one self-contained HTML file (rendered by `taoke-report`).

use anyhow::Context;
use taoke_evidence::{Options, Verdict};
use taoke_report::{html, json, markdown, terminal, Report};

use crate::args::{CompareArgs, FailOn, ReportFormat};
use crate::output::Output;
use crate::Status;

/// Opens both models and compares them, with a spinner on stderr.
pub fn compare_paths(
    a: &str,
    b: &str,
    opts: &Options,
    out: &Output,
) -> anyhow::Result<taoke_evidence::Comparison> {
    compare_paths_with(a, b, opts, &[], None, out)
}

/// Most registry entries per side taken as context (by prescreen score).
const REGISTRY_CONTEXT: usize = 32;

/// [`compare_paths`] with context models (merge parents are looked for among them) and,
/// optionally, the registry entries nearest to either side (on their weight samples).
pub fn compare_paths_with(
    a: &str,
    b: &str,
    opts: &Options,
    context: &[String],
    registry: Option<&taoke_registry::registry::Registry>,
    out: &Output,
) -> anyhow::Result<taoke_evidence::Comparison> {
    let sp = out.spinner(format!("opening {a}"));
    let ca = taoke_model::open(a).with_context(|| format!("cannot open `{a}`"))?;
    sp.set(format!("opening {b}"));
    let cb = taoke_model::open(b).with_context(|| format!("cannot open `{b}`"))?;
    let mut cks = Vec::with_capacity(context.len());
    for m in context {
        sp.set(format!("opening {m}"));
        cks.push(taoke_model::open(m).with_context(|| format!("cannot open `{m}`"))?);
    }
    let mut ctx = taoke_evidence::Context::new(context.iter().cloned().zip(cks.iter()).collect());
    if let Some(reg) = registry {
        let entries = reg.entries()?;
        let mut picked = std::collections::BTreeSet::new();
        for (name, ck) in [(a, &ca), (b, &cb)] {
            sp.set(format!("fingerprinting {name} for the registry context"));
            let fp = taoke_registry::fingerprint(ck, name)
                .with_context(|| format!("cannot fingerprint `{name}`"))?;
            let screen = taoke_registry::Screen::of(&fp);
            for (i, _) in taoke_registry::identify::prescreen(&screen, &entries, REGISTRY_CONTEXT) {
                picked.insert(i);
            }
        }
        for i in picked {
            let fp = reg.load(entries[i].id)?;
            if let Some(set) = taoke_registry::identify::sample_set(&fp) {
                ctx.push_samples(entries[i].name.clone(), set);
            }
        }
    }
    sp.set(format!("comparing {a} with {b}"));
    let c = taoke_evidence::compare_with(&ca, &cb, opts, &ctx)
        .with_context(|| format!("comparing `{a}` with `{b}`"))?;
    sp.done();
    Ok(c)
}

/// Runs `taoke compare`.
pub fn run(args: CompareArgs, out: &Output) -> anyhow::Result<Status> {
    let CompareArgs {
        a,
        b,
        format,
        output,
        fail_on,
        alpha,
        exhaustive,
        large_above,
        context,
        context_registry,
        registry,
    } = args;
    // `-o` never writes over an input; checked before the comparison, not after it.
    let mut inputs = vec![a.clone(), b.clone()];
    inputs.extend(context.iter().cloned());
    if context_registry {
        inputs.push(registry.path().to_string_lossy().into_owned());
    }
    out.set_inputs(&inputs);
    if let Some(o) = &output {
        out.refuse_input(o, &[])?;
    }
    // The registry is only read: a missing one is an error, never created.
    let reg = if context_registry {
        Some(registry.open_existing()?)
    } else {
        None
    };
    let opts = Options {
        alpha,
        exhaustive,
        large_above: large_above.unwrap_or(taoke_evidence::LARGE),
        ..Options::default()
    };
    let c = compare_paths_with(&a, &b, &opts, &context, reg.as_ref(), out)?;
    let verdict = c.verdict;
    let text = match format {
        ReportFormat::Json => json::render(&c)?,
        ReportFormat::Terminal => terminal::render(
            &Report::single(c),
            terminal::Style {
                color: out.color && output.is_none(),
            },
        ),
        ReportFormat::Markdown => markdown::render(&Report::single(c)),
        ReportFormat::Html => html::render(&Report::single(c))?,
    };
    out.write_data(output.as_deref(), &text)?;
    let hit = match fail_on {
        None => false,
        Some(FailOn::Related) => matches!(
            verdict,
            Verdict::Related | Verdict::SameWeights | Verdict::Identical
        ),
        Some(FailOn::SameWeights) => {
            matches!(verdict, Verdict::SameWeights | Verdict::Identical)
        }
        Some(FailOn::Any) => verdict != Verdict::Independent,
    };
    if let (true, Some(f)) = (hit, fail_on) {
        let flag = clap::ValueEnum::to_possible_value(&f)
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default();
        eprintln!(
            "--fail-on {flag} matched: the verdict on {a} ↔ {b} is {} (exit 1)",
            verdict.as_str()
        );
    }
    Ok(if hit { Status::CheckFailed } else { Status::Ok })
}
