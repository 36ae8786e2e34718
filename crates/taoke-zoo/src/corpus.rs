//! In-process synthetic corpora, deterministic from a seed: grammar-based short stories,
//! Python-like code, arithmetic, and server logs. No downloads. Each corpus has its own
//! vocabulary and structure, so models trained on different corpora learn different things and
//! a fine-tune on another corpus measurably changes the held-out losses.

use crate::rng::Rng;
use serde::{Deserialize, Serialize};

/// The synthetic corpora.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Corpus {
    /// Grammar-based short stories (TinyStories-like).
    Stories,
    /// Python-like code: small functions, loops, conditionals.
    Code,
    /// Arithmetic with correct answers: `12 + 35 = 47`.
    Arith,
    /// Server log lines (used for vocabulary extension: not in the base tokenizer's training text).
    Logs,
}

impl Corpus {
    /// All corpora, in a fixed order.
    pub const ALL: [Corpus; 4] = [Corpus::Stories, Corpus::Code, Corpus::Arith, Corpus::Logs];

    /// Short name used in the manifest.
    pub fn name(self) -> &'static str {
        match self {
            Corpus::Stories => "stories",
            Corpus::Code => "code",
            Corpus::Arith => "arith",
            Corpus::Logs => "logs",
        }
    }

    /// Generates at least `min_chars` characters of this corpus from `seed`.
    pub fn generate(self, seed: u64, min_chars: usize) -> String {
        let mut rng = Rng::derive(seed, self.name());
        let mut out = String::with_capacity(min_chars + 256);
        while out.len() < min_chars {
            match self {
                Corpus::Stories => story(&mut rng, &mut out),
                Corpus::Code => code(&mut rng, &mut out),
                Corpus::Arith => arith(&mut rng, &mut out),
                Corpus::Logs => logs(&mut rng, &mut out),
            }
        }
        out
    }
}

const NAMES: &[&str] = &[
    "Lily", "Tom", "Mia", "Ben", "Sue", "Max", "Anna", "Sam", "Lucy", "Tim", "Zoe", "Jack",
];
const ANIMALS: &[&str] = &[
    "cat", "dog", "bird", "fish", "frog", "bunny", "bear", "duck", "mouse", "fox", "owl", "pig",
];
const THINGS: &[&str] = &[
    "ball", "kite", "box", "hat", "cake", "boat", "tree", "flower", "book", "car", "shoe", "cup",
];
const ADJS: &[&str] = &[
    "big", "small", "red", "happy", "sad", "shiny", "old", "little", "blue", "funny", "soft",
    "brave",
];
const PLACES: &[&str] = &[
    "park", "garden", "house", "forest", "school", "river", "beach", "town", "yard", "farm",
];
const VERBS: &[&str] = &[
    "play", "run", "jump", "sing", "read", "swim", "dance", "draw", "hide", "climb",
];
const FEELINGS: &[&str] = &[
    "happy", "sad", "scared", "proud", "tired", "excited", "kind",
];

fn story(r: &mut Rng, out: &mut String) {
    let name = *r.pick(NAMES);
    let friend = *r.pick(NAMES);
    let animal = *r.pick(ANIMALS);
    let thing = *r.pick(THINGS);
    let adj = *r.pick(ADJS);
    let adj2 = *r.pick(ADJS);
    let place = *r.pick(PLACES);
    let verb = *r.pick(VERBS);
    let feeling = *r.pick(FEELINGS);
    let opening = match r.below(3) {
        0 => format!("Once upon a time, there was a {adj} {animal} named {name}."),
        1 => format!("One day, a {adj} {animal} called {name} went to the {place}."),
        _ => format!("{name} was a {adj} {animal} who lived near the {place}."),
    };
    out.push_str(&opening);
    out.push(' ');
    let n = 2 + r.below(4);
    for _ in 0..n {
        let s = match r.below(6) {
            0 => format!("{name} liked to {verb} in the {place}."),
            1 => format!("One day, {name} saw a {adj2} {thing}."),
            2 => format!("{name} said, \"Let us {verb} with the {thing}, {friend}!\""),
            3 => format!("{friend} gave {name} a {adj2} {thing}."),
            4 => format!("The {thing} was very {adj2}, and {name} felt {feeling}."),
            _ => format!("They went to the {place} to {verb} together."),
        };
        out.push_str(&s);
        out.push(' ');
    }
    let ending = match r.below(3) {
        0 => format!("In the end, {name} and {friend} were very {feeling}."),
        1 => format!("From that day on, {name} always took the {thing} to the {place}."),
        _ => "The end.".to_string(),
    };
    out.push_str(&ending);
    out.push('\n');
}

const FNS: &[&str] = &[
    "add", "scale", "total", "count", "merge", "clamp", "update", "lookup", "parse", "render",
];
const VARS: &[&str] = &[
    "x", "y", "n", "i", "acc", "value", "item", "data", "key", "idx",
];
const OPS: &[&str] = &["+", "-", "*", "//", "%"];
const CMPS: &[&str] = &["<", ">", "==", "!=", "<=", ">="];

fn code(r: &mut Rng, out: &mut String) {
    let f = *r.pick(FNS);
    let a = *r.pick(VARS);
    let mut b = *r.pick(VARS);
    if b == a {
        b = "other";
    }
    out.push_str(&format!("def {f}_{}({a}, {b}):\n", r.below(10)));
    let n = 1 + r.below(3);
    for _ in 0..n {
        match r.below(4) {
            0 => out.push_str(&format!("    {a} = {a} {} {b}\n", r.pick(OPS))),
            1 => out.push_str(&format!(
                "    for i in range({}):\n        {b} = {b} {} i\n",
                1 + r.below(20),
                r.pick(OPS)
            )),
            2 => out.push_str(&format!(
                "    if {a} {} {}:\n        return {b}\n",
                r.pick(CMPS),
                r.below(100)
            )),
            _ => out.push_str(&format!("    {b} = [{a}, {}, {b}]\n", r.below(10))),
        }
    }
    out.push_str(&format!("    return {a} {} {b}\n\n", r.pick(OPS)));
}

fn arith(r: &mut Rng, out: &mut String) {
    let a = r.below(100) as i64;
    let b = r.below(100) as i64;
    let line = match r.below(3) {
        0 => format!("{a} + {b} = {}\n", a + b),
        1 => format!("{a} - {b} = {}\n", a - b),
        _ => {
            let a = a % 13;
            let b = b % 13;
            format!("{a} * {b} = {}\n", a * b)
        }
    };
    out.push_str(&line);
}

const LEVELS: &[&str] = &["INFO", "INFO", "INFO", "WARN", "ERROR", "DEBUG"];
const SERVICES: &[&str] = &[
    "auth",
    "gateway",
    "billing",
    "search",
    "worker",
    "scheduler",
];
const EVENTS: &[&str] = &[
    "request completed",
    "connection opened",
    "connection closed",
    "cache miss",
    "retrying upstream",
    "timeout exceeded",
    "job finished",
    "token refreshed",
];

fn logs(r: &mut Rng, out: &mut String) {
    let line = format!(
        "2024-0{}-{:02} {:02}:{:02}:{:02} {} [{}] {} status={} latency_ms={}\n",
        1 + r.below(9),
        1 + r.below(28),
        r.below(24),
        r.below(60),
        r.below(60),
        r.pick(LEVELS),
        r.pick(SERVICES),
        r.pick(EVENTS),
        [200, 200, 200, 404, 500, 503][r.below(6)],
        r.below(900)
    );
    out.push_str(&line);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpora_are_deterministic_and_distinct() {
        for c in Corpus::ALL {
            let a = c.generate(1, 2000);
            let b = c.generate(1, 2000);
            let other = c.generate(2, 2000);
            assert_eq!(a, b);
            assert_ne!(a, other);
            assert!(a.len() >= 2000);
            assert!(a.is_ascii());
        }
        assert!(Corpus::Arith.generate(1, 200).contains(" = "));
        assert!(Corpus::Code.generate(1, 200).starts_with("def "));
    }
}
