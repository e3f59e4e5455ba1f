//! "Did you mean …?" hints for misspelt keys and names.

/// The candidate closest to `input`, when it is close enough to be a plausible typo.
pub fn closest<'a>(input: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|candidate| (strsim::jaro_winkler(input, candidate), *candidate))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

/// `", did you mean `x`?"` or nothing.
pub fn did_you_mean(input: &str, candidates: &[&str]) -> String {
    closest(input, candidates)
        .map(|c| format!(", did you mean `{c}`?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_nearest_key() {
        assert_eq!(closest("gtee", &["gt", "gte", "lte", "eq"]), Some("gte"));
        assert_eq!(
            closest("requird", &["required", "pattern"]),
            Some("required")
        );
        assert_eq!(closest("zzz", &["required", "pattern"]), None);
    }
}
