//! Compares pairs of zoo models by id and prints the verdict and kinds (a debugging aid):
//! `cargo run --release -p taoke-eval --example pair -- full a1 a1-ft-code a1 a2 ...`.

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let profile = taoke_zoo::Profile::parse(&args[0]).expect("profile");
    let dir = taoke_zoo::default_dir(profile);
    let manifest = taoke_zoo::Manifest::load(&dir.join("zoo.json"))?;
    for pair in args[1..].chunks(2) {
        let open = |id: &str| -> anyhow::Result<taoke_model::Checkpoint> {
            let m = manifest
                .model(id)
                .ok_or_else(|| anyhow::anyhow!("no model {id}"))?;
            Ok(taoke_model::open(dir.join(&m.path).to_string_lossy())?)
        };
        let (a, b) = (open(&pair[0])?, open(&pair[1])?);
        let c = taoke_evidence::compare(&a, &b, &taoke_evidence::Options::default())?;
        let kinds: Vec<&str> = c.kinds.iter().map(|k| k.as_str()).collect();
        let truth = manifest
            .pair(&pair[0], &pair[1])
            .map(|p| taoke_eval::observable_kinds(&manifest, p))
            .unwrap_or_default();
        println!(
            "{} {} {} {:?} truth {:?}",
            pair[0],
            pair[1],
            c.verdict.as_str(),
            kinds,
            truth
        );
        for e in &c.evidence {
            if std::env::var("SHOW").is_ok_and(|s| s.split(',').any(|t| t == e.test.as_str())) {
                println!(
                    "    {} {} {:.4} {}",
                    e.test, e.scope, e.statistic, e.summary
                );
            }
        }
    }
    Ok(())
}
