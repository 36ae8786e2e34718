//! `taoke kb list`: the knowledge base compiled into the binary (or a `--kb` folder): every
//! checkpoint and family id `audit --base MODEL=KB_ID` accepts, with its name and licences.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;
use taoke_audit::kb::{Family, Kb};

use crate::args::Format;
use crate::output::Output;
use crate::Status;

/// `taoke kb`.
#[derive(Debug, Args)]
pub struct KbArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: KbCommand,
}

/// `taoke kb` subcommands.
#[derive(Debug, Subcommand)]
pub enum KbCommand {
    /// List the checkpoint and family ids (the KB_ID of `audit --base MODEL=KB_ID`) with
    /// their names, parameter counts and licences.
    List(KbListArgs),
}

/// `taoke kb list`.
#[derive(Debug, Args)]
pub struct KbListArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Terminal)]
    pub format: Format,
    /// A knowledge-base folder (licences.toml, families.toml, rules.toml) replacing the
    /// embedded one.
    #[arg(long, value_name = "DIR")]
    pub kb: Option<PathBuf>,
}

/// A licence as listed.
#[derive(Debug, Serialize)]
struct LicenceRow<'a> {
    id: &'a str,
    name: &'a str,
    spdx: &'a str,
}

/// A checkpoint as listed.
#[derive(Debug, Serialize)]
struct CheckpointRow<'a> {
    id: &'a str,
    name: &'a str,
    aliases: &'a [String],
    parameters: Option<f64>,
    base: Option<&'a str>,
    licences: Vec<LicenceRow<'a>>,
}

/// A family as listed.
#[derive(Debug, Serialize)]
struct FamilyRow<'a> {
    id: &'a str,
    name: &'a str,
    publisher: &'a str,
    country: &'a str,
    architectures: &'a [String],
    checkpoints: Vec<CheckpointRow<'a>>,
}

/// `taoke kb list --format json`.
#[derive(Debug, Serialize)]
struct Listing<'a> {
    schema_version: u32,
    kb: &'a str,
    families: Vec<FamilyRow<'a>>,
}

fn family_row<'a>(kb: &'a Kb, f: &'a Family) -> FamilyRow<'a> {
    let checkpoints = f
        .checkpoints
        .iter()
        .map(|c| CheckpointRow {
            id: &c.id,
            name: &c.name,
            aliases: &c.aliases,
            parameters: c.params.as_ref().map(|p| p.value),
            base: c.base.as_deref(),
            licences: c
                .licences
                .iter()
                .filter_map(|id| kb.licence(id))
                .map(|l| LicenceRow {
                    id: &l.id,
                    name: &l.name,
                    spdx: &l.spdx,
                })
                .collect(),
        })
        .collect();
    FamilyRow {
        id: &f.id,
        name: &f.name,
        publisher: &f.publisher,
        country: &f.country,
        architectures: &f.architectures,
        checkpoints,
    }
}

fn render_terminal(l: &Listing<'_>, out: &Output) -> String {
    let mut s = String::new();
    let n: usize = l.families.iter().map(|f| f.checkpoints.len()).sum();
    let _ = writeln!(
        s,
        "{} {}: {n} checkpoints in {} families (tag a base with `audit --base MODEL=ID`; a family id inherits no licence)",
        out.bold("KNOWLEDGE BASE"),
        l.kb,
        l.families.len()
    );
    let id_w = l
        .families
        .iter()
        .flat_map(|f| f.checkpoints.iter().map(|c| c.id.len()))
        .max()
        .unwrap_or(0);
    let name_w = l
        .families
        .iter()
        .flat_map(|f| f.checkpoints.iter().map(|c| c.name.chars().count()))
        .max()
        .unwrap_or(0);
    for f in &l.families {
        let _ = writeln!(
            s,
            "\n{} — {} ({}, {})",
            out.bold(f.id),
            f.name,
            f.publisher,
            f.country
        );
        for c in &f.checkpoints {
            let params = c
                .parameters
                .map(taoke_audit::compute::sci)
                .unwrap_or_else(|| "-".to_owned());
            let licences = c
                .licences
                .iter()
                .map(|l| format!("{} ({})", l.id, l.name))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = writeln!(
                s,
                "  {:id_w$}  {:name_w$}  {params:>8}  {licences}",
                c.id, c.name
            );
        }
    }
    s
}

/// Runs `taoke kb`.
pub fn run(args: KbArgs, out: &Output) -> anyhow::Result<Status> {
    match args.command {
        KbCommand::List(a) => list(a, out),
    }
}

fn list(args: KbListArgs, out: &Output) -> anyhow::Result<Status> {
    let kb = match &args.kb {
        Some(d) => Kb::load_dir(d)?,
        None => Kb::embedded()?,
    };
    let listing = Listing {
        schema_version: 1,
        kb: &kb.origin,
        families: kb.families.iter().map(|f| family_row(&kb, f)).collect(),
    };
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&listing)? + "\n",
        Format::Terminal => render_terminal(&listing, out),
    };
    out.write_data(None, &text)?;
    Ok(Status::Ok)
}
