//! Order statistics of plain value lists.

/// The upper median of the finite values (`v[n/2]` after sorting), `NaN` when there is none.
/// Non-finite values are dropped, so a `NaN` weight statistic never moves a median.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn upper_median_of_finite_values() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 3.0);
        assert_eq!(median(vec![f64::NAN, 5.0, f64::INFINITY]), 5.0);
        assert!(median(vec![f64::NAN]).is_nan());
    }
}
