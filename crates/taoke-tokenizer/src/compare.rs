//! Comparing two vocabularies: overlap statistics and a [`Relation`]. The rules are
//! documented on [`compare`].

use std::borrow::Cow;

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use serde::Serialize;

use crate::vocab::{TokenizerKind, Vocab};

/// Most changed ids rule 2 ([`Relation::Extended`]) tolerates in the common id range.
pub const EXTENDED_MAX_CHANGED: usize = 256;
/// Jaccard at and above which two vocabularies are the same token set (rules 3 and 4).
pub const REORDERED_MIN_JACCARD: f64 = 0.9;
/// Equal-id fraction below which a same token set counts as re-ordered (rule 4).
pub const REORDERED_MAX_EQUAL_ID_FRACTION: f64 = 0.5;
/// Jaccard at and above which vocabularies overlap (rule 5).
pub const OVERLAP_MIN_JACCARD: f64 = 0.3;
/// Fewest tokens at the dominant id shift for rule 5 ([`Relation::SharedBlock`]).
pub const SHARED_BLOCK_MIN_TOKENS: usize = 1000;
/// Fraction of the smaller distinct-token count the dominant id shift must hold (rule 5).
pub const SHARED_BLOCK_MIN_FRACTION: f64 = 0.2;
/// Most tokens listed in a [`TokenSample`] or [`Changes`] (the counts are always complete).
pub const LIST_CAP: usize = 200;

/// One of the two compared vocabularies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The first argument of [`compare`].
    A,
    /// The second argument of [`compare`].
    B,
}

/// A token by id, in normal form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdToken {
    /// Its id.
    pub id: u32,
    /// Its normal form.
    pub token: String,
}

/// A possibly truncated list of tokens with the full count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TokenSample {
    /// How many there are.
    pub total: usize,
    /// How many of them are llama.cpp `[PADn]` fillers.
    pub fillers: usize,
    /// The first [`LIST_CAP`] of them (in the order the field documents).
    pub tokens: Vec<IdToken>,
}

/// An id whose token differs between the two vocabularies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdChange {
    /// The id.
    pub id: u32,
    /// The token in A (normal form).
    pub a: String,
    /// The token in B (normal form).
    pub b: String,
}

/// A possibly truncated list of changed ids with the full count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Changes {
    /// How many ids changed.
    pub total: usize,
    /// The first [`LIST_CAP`] of them, by id.
    pub items: Vec<IdChange>,
}

/// The most common id difference among shared tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IdShift {
    /// `id_B − id_A`.
    pub shift: i64,
    /// How many shared tokens moved by exactly `shift`.
    pub tokens: usize,
}

/// A role whose token differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpecialDiff {
    /// `bos`, `eos`, `unk`, `pad`, `sep`, `cls` or `mask`.
    pub role: &'static str,
    /// A's token for the role.
    pub a: Option<IdToken>,
    /// B's token for the role.
    pub b: Option<IdToken>,
}

/// How two vocabularies relate (see [`compare`] for the rules).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Relation {
    /// The same normal token at every id, same length.
    Identical,
    /// One vocabulary is the other plus tokens at the end.
    Extended {
        /// The shorter (base) vocabulary.
        base: Side,
        /// The longer one's tokens past the base's length, by id.
        added: TokenSample,
        /// Ids in the common range whose (special-like) token changed.
        changed: Changes,
    },
    /// Mostly the same tokens at the same ids, with edits beyond an extension.
    Modified {
        /// Ids in the common range whose token differs.
        changed: Changes,
    },
    /// The same token set under different ids.
    Reordered,
    /// A large block of tokens in the same order at a constant id offset: both vocabularies
    /// copied a common ancestor, then differ.
    SharedBlock {
        /// `id_B − id_A` for the block.
        shift: i64,
        /// How many shared tokens sit at that offset.
        tokens: usize,
    },
    /// Substantial overlap, different ids: not by itself evidence of derivation.
    Overlapping,
    /// Little overlap.
    Unrelated,
}

impl Relation {
    /// Short lower-case name (`identical`, `extended`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Relation::Identical => "identical",
            Relation::Extended { .. } => "extended",
            Relation::Modified { .. } => "modified",
            Relation::Reordered => "reordered",
            Relation::SharedBlock { .. } => "shared-block",
            Relation::Overlapping => "overlapping",
            Relation::Unrelated => "unrelated",
        }
    }

    /// Whether the relation says one vocabulary was derived from the other (identical,
    /// extended or modified).
    pub fn is_derivation(&self) -> bool {
        matches!(
            self,
            Relation::Identical | Relation::Extended { .. } | Relation::Modified { .. }
        )
    }

    /// Whether the vocabularies share an origin: a derivation, a re-ordering of the same
    /// set, or a shared block.
    pub fn is_related(&self) -> bool {
        self.is_derivation() || matches!(self, Relation::Reordered | Relation::SharedBlock { .. })
    }
}

/// The result of [`compare`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VocabComparison {
    /// Token count of A.
    pub len_a: usize,
    /// Token count of B.
    pub len_b: usize,
    /// Tokenizer kind of A.
    pub kind_a: TokenizerKind,
    /// Tokenizer kind of B.
    pub kind_b: TokenizerKind,
    /// Jaccard index of the normal-form sets (fillers left out).
    pub jaccard: f64,
    /// Distinct normal forms in both.
    pub shared_tokens: usize,
    /// Normal forms only in A, sorted by text.
    pub only_a: TokenSample,
    /// Normal forms only in B, sorted by text.
    pub only_b: TokenSample,
    /// Ids `< min(len)` with the same normal form in both.
    pub equal_ids: usize,
    /// `equal_ids / min(len)` (0 when a side is empty).
    pub equal_id_fraction: f64,
    /// Longest run of equal ids from id 0.
    pub equal_id_prefix_len: usize,
    /// The most common id difference among shared tokens.
    pub id_shift: Option<IdShift>,
    /// Merge count of A.
    pub merges_a: usize,
    /// Merge count of B.
    pub merges_b: usize,
    /// Whether the normalized merge lists are equal (also when both are empty).
    pub merges_identical: bool,
    /// Longest common prefix of the normalized merge lists.
    pub merge_prefix_len: usize,
    /// Jaccard of the sets of normalized merges; `None` when neither side has merges.
    pub merges_jaccard: Option<f64>,
    /// Roles whose token differs, in the order bos, eos, unk, pad, sep, cls, mask.
    pub special_diff: Vec<SpecialDiff>,
    /// Hint differences (`pre: qwen2 vs qwen35`).
    pub hint_diff: Vec<String>,
    /// The relation.
    pub relation: Relation,
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

fn id32(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// Normal form → first id, fillers left out.
fn first_ids(v: &Vocab) -> HashMap<&str, u32> {
    let mut m: HashMap<&str, u32> = HashMap::with_capacity(v.len());
    for (i, t) in v.tokens.iter().enumerate() {
        if !v.is_filler(i) {
            m.entry(t.norm.as_str()).or_insert(id32(i));
        }
    }
    m
}

/// The set of normalized merge pairs.
fn merge_set<'a>(v: &'a [(Cow<'a, str>, Cow<'a, str>)]) -> HashSet<(&'a str, &'a str)> {
    let mut s: HashSet<(&str, &str)> = HashSet::with_capacity(v.len());
    s.extend(v.iter().map(|(x, y)| (x.as_ref(), y.as_ref())));
    s
}

/// Compares two vocabularies: overlap statistics and a [`Relation`].
///
/// Everything is computed on normal forms ([`crate::Token::norm`]), so a vocabulary read from
/// tokenizer.json, sentencepiece, vocab.txt or GGUF metadata compares equal to itself.
///
/// # Statistics
///
/// - **Jaccard** `|A ∩ B| / |A ∪ B|` over the *sets* of normal forms, leaving out llama.cpp's
///   `[PADn]` fillers (placeholders for unassigned ids carry no information and would make
///   unrelated padded vocabularies share tokens by number). Two empty sets give 1.
/// - **Equal ids**: ids `< min(len A, len B)` holding the same normal form; the fraction is
///   over `min(len A, len B)`. **Equal-id prefix**: the longest run of equal ids from id 0.
/// - **Id shift**: over the shared tokens (first id of each normal form on each side), the most
///   common `id_B − id_A` and how many tokens have it; a re-ordered vocabulary whose ids moved by
///   a constant (a different number of special tokens in front) shows one dominant shift.
/// - **Merges** (normal forms of both halves): identical lists, common prefix length, Jaccard
///   over the sets of pairs (`None` when neither side has merges).
/// - **Special tokens**: roles (bos, eos, unk, pad, sep, cls, mask) whose token differs, and
///   hint differences (pre-tokenizer, normalizer). Neither affects the relation: qwen2 and
///   qwen35 differ only in `tokenizer.ggml.pre` and are identical vocabularies.
///
/// # Relation rules
///
/// With `n = min(len A, len B)` and the *changed ids* being the ids `< n` whose normal forms
/// differ, the first rule that holds wins:
///
/// 1. [`Relation::Identical`]: same length and no changed id.
/// 2. [`Relation::Extended`]: different lengths, the shorter vocabulary is not empty, and its
///    ids `0..n` hold the longer one's tokens, except at most
///    `min(`[`EXTENDED_MAX_CHANGED`]`, max(1, n / 100))` changed ids, each of which is
///    special-like ([`crate::Token::is_special_like`], or a filler) on at least one side. The
///    longer vocabulary's ids `n..` are the added tokens. (Phi-3 = Llama 2's 32,000 + 64.)
///    When every added token is a filler, the longer one is the same vocabulary padded (a
///    GGUF padded to the embedding rows versus the model's tokenizer.json); the summary says
///    so.
/// 3. [`Relation::Modified`]: Jaccard ≥ [`REORDERED_MIN_JACCARD`] and equal-id fraction ≥
///    [`REORDERED_MAX_EQUAL_ID_FRACTION`]: mostly the same tokens at the same ids, with edits
///    that rule 2 does not allow (same length with renamed tokens, many changed ids, tokens
///    removed from the middle).
/// 4. [`Relation::Reordered`]: Jaccard ≥ [`REORDERED_MIN_JACCARD`] but equal-id fraction <
///    [`REORDERED_MAX_EQUAL_ID_FRACTION`]: the same token set under different ids.
/// 5. [`Relation::SharedBlock`]: the dominant id shift holds at least
///    `max(`[`SHARED_BLOCK_MIN_TOKENS`]`, `[`SHARED_BLOCK_MIN_FRACTION`]` × the smaller
///    distinct-token count)` shared tokens: a large block of tokens sits in both vocabularies
///    in the same order at a constant id offset, which independent training does not produce
///    (among unrelated vocabularies the dominant shift holds at most a few hundred tokens, the
///    byte alphabet). Llama 3 (llama-bpe) and Qwen2 share 71,871 tokens at offset −1,100,
///    consistent with both building on tiktoken's cl100k_base.
/// 6. [`Relation::Overlapping`]: Jaccard ≥ [`OVERLAP_MIN_JACCARD`]. Independently trained BPE
///    vocabularies on similar data reach 0.3–0.6 (gpt-2 vs falcon 0.58, gpt-2 vs SmolLM2
///    0.59), so this alone is *not* evidence of derivation.
/// 7. Otherwise [`Relation::Unrelated`].
pub fn compare(a: &Vocab, b: &Vocab) -> VocabComparison {
    let (la, lb) = (a.len(), b.len());
    let n = la.min(lb);

    // Token sets (first id of each normal form), fillers left out.
    let ma = first_ids(a);
    let mb = first_ids(b);
    let mut shifts: HashMap<i64, usize> = HashMap::with_capacity(1024);
    let mut only_a: Vec<(&str, u32)> = Vec::new();
    let mut shared = 0usize;
    for (tok, &ia) in &ma {
        match mb.get(tok) {
            Some(&ib) => {
                shared += 1;
                *shifts.entry(i64::from(ib) - i64::from(ia)).or_insert(0) += 1;
            }
            None => only_a.push((tok, ia)),
        }
    }
    let mut only_b: Vec<(&str, u32)> = mb
        .iter()
        .filter(|(t, _)| !ma.contains_key(*t))
        .map(|(t, &i)| (*t, i))
        .collect();
    let union = ma.len() + mb.len() - shared;
    let jaccard = if union == 0 {
        1.0
    } else {
        shared as f64 / union as f64
    };
    let id_shift = shifts
        .iter()
        .map(|(&shift, &tokens)| IdShift { shift, tokens })
        .max_by(|x, y| {
            x.tokens
                .cmp(&y.tokens)
                .then(y.shift.abs().cmp(&x.shift.abs()))
                .then(y.shift.cmp(&x.shift))
        });

    // Same id, same token.
    let mut mismatches: Vec<usize> = Vec::new();
    let mut prefix = None;
    for i in 0..n {
        if a.tokens[i].norm != b.tokens[i].norm {
            mismatches.push(i);
            prefix.get_or_insert(i);
        }
    }
    let equal_ids = n - mismatches.len();
    let equal_id_prefix_len = prefix.unwrap_or(n);
    let equal_id_fraction = ratio(equal_ids, n);

    // Merges.
    let na = a.normalized_merge_refs();
    let nb = b.normalized_merge_refs();
    let merges_identical = na == nb;
    let merge_prefix_len = na.iter().zip(&nb).take_while(|(x, y)| x == y).count();
    let merges_jaccard = if na.is_empty() && nb.is_empty() {
        None
    } else if na.is_empty() || nb.is_empty() {
        Some(0.0)
    } else {
        let (sa, sb) = (merge_set(&na), merge_set(&nb));
        let inter = sa.iter().filter(|p| sb.contains(*p)).count();
        Some(ratio(inter, sa.len() + sb.len() - inter))
    };

    // Special tokens and hints.
    let tok = |v: &Vocab, id: Option<u32>| {
        id.and_then(|i| {
            v.tokens.get(i as usize).map(|t| IdToken {
                id: i,
                token: t.norm.clone(),
            })
        })
    };
    let special_diff = a
        .special
        .roles()
        .into_iter()
        .zip(b.special.roles())
        .filter_map(|((role, ia), (_, ib))| {
            let (ta, tb) = (tok(a, ia), tok(b, ib));
            (ta != tb).then_some(SpecialDiff { role, a: ta, b: tb })
        })
        .collect();
    let mut hint_diff = Vec::new();
    // Hints are only comparable between files of one format (a GGUF `pre` name is not a
    // tokenizer.json pre-tokenizer type).
    let hint_pairs = if a.format == b.format {
        vec![
            ("pre", &a.hints.pre, &b.hints.pre),
            ("normalizer", &a.hints.normalizer, &b.hints.normalizer),
        ]
    } else {
        Vec::new()
    };
    for (name, x, y) in hint_pairs {
        if let (Some(x), Some(y)) = (x, y) {
            if x != y {
                hint_diff.push(format!("{name}: {x} vs {y}"));
            }
        }
    }

    // Relation.
    let changes = |ids: &[usize]| Changes {
        total: ids.len(),
        items: ids
            .iter()
            .take(LIST_CAP)
            .map(|&i| IdChange {
                id: id32(i),
                a: a.tokens[i].norm.clone(),
                b: b.tokens[i].norm.clone(),
            })
            .collect(),
    };
    let special_like = |v: &Vocab, i: usize| v.tokens[i].is_special_like() || v.is_filler(i);
    let allowed = EXTENDED_MAX_CHANGED.min((n / 100).max(1));
    let relation = if la == lb && mismatches.is_empty() {
        Relation::Identical
    } else if la != lb
        && n > 0
        && mismatches.len() <= allowed
        && mismatches
            .iter()
            .all(|&i| special_like(a, i) || special_like(b, i))
    {
        let (base, longer) = if la < lb { (Side::A, b) } else { (Side::B, a) };
        Relation::Extended {
            base,
            added: TokenSample {
                total: longer.len() - n,
                fillers: (n..longer.len()).filter(|&i| longer.is_filler(i)).count(),
                tokens: longer.tokens[n..]
                    .iter()
                    .take(LIST_CAP)
                    .enumerate()
                    .map(|(k, t)| IdToken {
                        id: id32(n + k),
                        token: t.norm.clone(),
                    })
                    .collect(),
            },
            changed: changes(&mismatches),
        }
    } else if jaccard >= REORDERED_MIN_JACCARD
        && equal_id_fraction >= REORDERED_MAX_EQUAL_ID_FRACTION
    {
        Relation::Modified {
            changed: changes(&mismatches),
        }
    } else if jaccard >= REORDERED_MIN_JACCARD {
        Relation::Reordered
    } else if let Some(sh) = id_shift.filter(|sh| {
        let smaller = ma.len().min(mb.len()) as f64;
        sh.tokens >= SHARED_BLOCK_MIN_TOKENS
            && sh.tokens as f64 >= SHARED_BLOCK_MIN_FRACTION * smaller
    }) {
        Relation::SharedBlock {
            shift: sh.shift,
            tokens: sh.tokens,
        }
    } else if jaccard >= OVERLAP_MIN_JACCARD {
        Relation::Overlapping
    } else {
        Relation::Unrelated
    };

    let sample = |list: &mut Vec<(&str, u32)>| {
        // Only the first LIST_CAP in order are listed: select them, then sort those.
        let total = list.len();
        if list.len() > LIST_CAP {
            list.select_nth_unstable(LIST_CAP);
            list.truncate(LIST_CAP + 1);
        }
        list.sort_unstable();
        TokenSample {
            total,
            fillers: 0,
            tokens: list
                .iter()
                .take(LIST_CAP)
                .map(|&(t, id)| IdToken {
                    id,
                    token: t.to_string(),
                })
                .collect(),
        }
    };
    VocabComparison {
        len_a: la,
        len_b: lb,
        kind_a: a.kind,
        kind_b: b.kind,
        jaccard,
        shared_tokens: shared,
        only_a: sample(&mut only_a),
        only_b: sample(&mut only_b),
        equal_ids,
        equal_id_fraction,
        equal_id_prefix_len,
        id_shift,
        merges_a: na.len(),
        merges_b: nb.len(),
        merges_identical,
        merge_prefix_len,
        merges_jaccard,
        special_diff,
        hint_diff,
        relation,
    }
}

fn quote_list(tokens: &[IdToken], max: usize) -> String {
    let mut s: Vec<String> = tokens
        .iter()
        .take(max)
        .map(|t| format!("{:?}", t.token))
        .collect();
    if tokens.len() > max {
        s.push("…".into());
    }
    s.join(", ")
}

impl VocabComparison {
    /// A plain-words summary (one paragraph, no trailing newline).
    pub fn summary(&self) -> String {
        let out = match &self.relation {
            Relation::Identical => format!(
                "identical vocabularies: {} tokens, the same token at every id",
                self.len_a
            ),
            Relation::Extended {
                base,
                added,
                changed,
            } => {
                let (b, l) = match base {
                    Side::A => ("A", "B"),
                    Side::B => ("B", "A"),
                };
                let fillers = added.fillers;
                if fillers == added.total && changed.total == 0 {
                    return self.with_details(format!(
                        "{l} is {b} padded: the same {} tokens at the same ids plus {fillers} llama.cpp [PADn] filler ids (padding, typically to the embedding size)",
                        self.len_a.min(self.len_b)
                    ));
                }
                let mut s = format!(
                    "{l} extends {b}: {l} holds {b}'s {} tokens at the same ids plus {} tokens added at the end",
                    self.len_a.min(self.len_b),
                    added.total
                );
                if fillers > 0 {
                    s.push_str(&format!(
                        " ({fillers} of them llama.cpp [PADn] fillers for unassigned ids)"
                    ));
                }
                s.push_str(&format!(": {}", quote_list(&added.tokens, 12)));
                if changed.total > 0 {
                    s.push_str(&format!(
                        "; {} special-token ids changed in the common range",
                        changed.total
                    ));
                }
                s
            }
            Relation::Modified { changed } => format!(
                "modified copy: the token sets nearly coincide (Jaccard {:.3}) and {:.1}% of ids hold the same token, but {} ids differ",
                self.jaccard,
                100.0 * self.equal_id_fraction,
                changed.total
            ),
            Relation::Reordered => {
                let mut s = format!(
                    "re-ordered: the token sets nearly coincide (Jaccard {:.3}, {} shared tokens) but only {:.1}% of ids hold the same token",
                    self.jaccard,
                    self.shared_tokens,
                    100.0 * self.equal_id_fraction
                );
                if let Some(sh) = self.id_shift {
                    s.push_str(&format!(
                        "; {} shared tokens moved by {:+} ids",
                        sh.tokens, sh.shift
                    ));
                }
                s
            }
            Relation::SharedBlock { shift, tokens } => format!(
                "shared block: {tokens} tokens appear in both in the same order at a constant id offset ({shift:+}), which independent training does not produce: both copied a common ancestor vocabulary, then changed it (Jaccard {:.3}, {:.2}% same ids)",
                self.jaccard,
                100.0 * self.equal_id_fraction
            ),
            Relation::Overlapping => format!(
                "overlapping: Jaccard {:.3} ({} shared tokens), {:.2}% same ids; partial overlap is typical of independently trained BPE vocabularies and is not by itself evidence of derivation",
                self.jaccard,
                self.shared_tokens,
                100.0 * self.equal_id_fraction
            ),
            Relation::Unrelated => format!(
                "unrelated: Jaccard {:.3} ({} shared tokens), {:.2}% same ids",
                self.jaccard,
                self.shared_tokens,
                100.0 * self.equal_id_fraction
            ),
        };
        self.with_details(out)
    }

    /// Appends merges, special-token and hint differences to a relation sentence.
    fn with_details(&self, mut out: String) -> String {
        if self.merges_a + self.merges_b > 0 {
            if self.merges_identical {
                out.push_str(&format!("; merges identical ({})", self.merges_a));
            } else {
                out.push_str(&format!(
                    "; merges differ ({} vs {}, Jaccard {:.3}, common prefix {})",
                    self.merges_a,
                    self.merges_b,
                    self.merges_jaccard.unwrap_or(0.0),
                    self.merge_prefix_len
                ));
            }
        }
        for d in &self.special_diff {
            let show = |t: &Option<IdToken>| match t {
                Some(t) => format!("{:?} (id {})", t.token, t.id),
                None => "none".into(),
            };
            out.push_str(&format!(
                "; {} differs: {} vs {}",
                d.role,
                show(&d.a),
                show(&d.b)
            ));
        }
        for h in &self.hint_diff {
            out.push_str(&format!("; {h}"));
        }
        out
    }
}
