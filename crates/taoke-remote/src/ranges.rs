//! Sets of half-open byte ranges: what the cache holds, what is being fetched.

use std::collections::BTreeMap;

/// Half-open byte ranges `[start, end)`, kept disjoint and non-adjacent (touching ranges are
/// merged), so the representation of a set of bytes is unique.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeSet {
    /// start → end.
    map: BTreeMap<u64, u64>,
}

impl RangeSet {
    /// The empty set.
    pub fn new() -> RangeSet {
        RangeSet::default()
    }

    /// Adds `[a, b)`.
    pub fn insert(&mut self, mut a: u64, mut b: u64) {
        if a >= b {
            return;
        }
        // Ranges starting at or before `b` whose end reaches `a` touch [a, b); they are the
        // last ones of `..=b`, and their ends decrease going backwards.
        let touching: Vec<(u64, u64)> = self
            .map
            .range(..=b)
            .rev()
            .take_while(|(_, &e)| e >= a)
            .map(|(&s, &e)| (s, e))
            .collect();
        for (s, e) in touching {
            self.map.remove(&s);
            a = a.min(s);
            b = b.max(e);
        }
        self.map.insert(a, b);
    }

    /// Removes `[a, b)`.
    pub fn remove(&mut self, a: u64, b: u64) {
        if a >= b {
            return;
        }
        let overlapping: Vec<(u64, u64)> = self
            .map
            .range(..b)
            .rev()
            .take_while(|(_, &e)| e > a)
            .map(|(&s, &e)| (s, e))
            .collect();
        for (s, e) in overlapping {
            self.map.remove(&s);
            if s < a {
                self.map.insert(s, a);
            }
            if e > b {
                self.map.insert(b, e);
            }
        }
    }

    /// Whether every byte of `[a, b)` is in the set (an empty range always is).
    pub fn contains(&self, a: u64, b: u64) -> bool {
        a >= b
            || self
                .map
                .range(..=a)
                .next_back()
                .is_some_and(|(_, &e)| e >= b)
    }

    /// The parts of `[a, b)` not in the set, in order.
    pub fn missing(&self, a: u64, b: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        if a >= b {
            return out;
        }
        let mut pos = a;
        if let Some((_, &e)) = self.map.range(..=a).next_back() {
            pos = pos.max(e);
        }
        for (&s, &e) in self.map.range(a..b) {
            if s > pos {
                out.push((pos, s));
            }
            pos = pos.max(e);
        }
        if pos < b {
            out.push((pos, b));
        }
        out
    }

    /// Number of bytes in the set.
    pub fn total(&self) -> u64 {
        self.map.iter().map(|(s, e)| e - s).sum()
    }

    /// Number of disjoint ranges.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The ranges in order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.map.iter().map(|(&s, &e)| (s, e))
    }
}

/// Sorts `ranges` and merges those closer than `gap` bytes (the bytes between are fetched
/// too: one request instead of two).
pub fn coalesce(mut ranges: Vec<(u64, u64)>, gap: u64) -> Vec<(u64, u64)> {
    ranges.retain(|(a, b)| a < b);
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (a, b) in ranges {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(gap) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Splits ranges into pieces of at most `chunk` bytes (fetched concurrently).
pub fn split(ranges: &[(u64, u64)], chunk: u64) -> Vec<(u64, u64)> {
    let chunk = chunk.max(1);
    let mut out = Vec::new();
    for &(a, b) in ranges {
        let mut s = a;
        while s < b {
            let e = b.min(s.saturating_add(chunk));
            out.push((s, e));
            s = e;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &RangeSet) -> Vec<(u64, u64)> {
        s.iter().collect()
    }

    #[test]
    fn insert_merges_touching_and_overlapping() {
        let mut s = RangeSet::new();
        s.insert(10, 20);
        s.insert(30, 40);
        s.insert(20, 25);
        assert_eq!(v(&s), [(10, 25), (30, 40)]);
        s.insert(5, 35);
        assert_eq!(v(&s), [(5, 40)]);
        s.insert(50, 50);
        assert_eq!(v(&s), [(5, 40)]);
        assert_eq!(s.total(), 35);
    }

    #[test]
    fn contains_and_missing() {
        let mut s = RangeSet::new();
        s.insert(10, 20);
        s.insert(30, 40);
        assert!(s.contains(10, 20));
        assert!(s.contains(12, 18));
        assert!(!s.contains(15, 31));
        assert!(s.contains(100, 100));
        assert_eq!(s.missing(0, 50), [(0, 10), (20, 30), (40, 50)]);
        assert_eq!(s.missing(15, 35), [(20, 30)]);
        assert_eq!(s.missing(12, 18), []);
    }

    #[test]
    fn remove_splits() {
        let mut s = RangeSet::new();
        s.insert(0, 100);
        s.remove(10, 20);
        s.remove(90, 200);
        assert_eq!(v(&s), [(0, 10), (20, 90)]);
        s.remove(0, 90);
        assert!(s.is_empty());
    }

    #[test]
    fn coalesce_and_split() {
        let r = coalesce(vec![(100, 110), (0, 10), (15, 20), (200, 200)], 5);
        assert_eq!(r, [(0, 20), (100, 110)]);
        assert_eq!(split(&[(0, 25)], 10), [(0, 10), (10, 20), (20, 25)]);
    }
}
