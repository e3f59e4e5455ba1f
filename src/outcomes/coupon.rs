//! Coupons: one code per user per campaign, from a pool or generated from a pattern.

use rand::Rng;
use sqlx::SqliteConnection;

use crate::campaign::{Campaign, Coupon, CouponSource};
use crate::detour::FlowError;
use crate::store::StoreError;
use crate::store::coupons::{self, Assigned, Claim};
use crate::store::detours::PromptRow;

/// Characters of generated codes: no 0/O, 1/I/L, so codes read back without mistakes.
pub const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// A fresh code from a pattern such as `WELCOME-{XXXX}-{XXXX}` (checked when loading).
pub fn generate(pattern: &str) -> String {
    let mut rng = rand::rng();
    let mut out = String::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        for _ in 0..close.saturating_sub(1) {
            out.push(char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]));
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

/// Whether the user could get a code now: they have one, or the pool/cap has room.
pub async fn available(
    conn: &mut SqliteConnection,
    campaign: &Campaign,
    coupon: &Coupon,
    issuer: &str,
    subject: &str,
) -> Result<bool, StoreError> {
    if coupons::assigned_to(conn, &campaign.id, issuer, subject)
        .await?
        .is_some()
    {
        return Ok(true);
    }
    if let Some(cap) = coupon.cap
        && coupons::assigned_count(conn, &campaign.id).await? >= i64::from(cap)
    {
        return Ok(false);
    }
    match coupon.source {
        CouponSource::Pool(_) => Ok(coupons::free_count(conn, &campaign.id).await? > 0),
        CouponSource::Pattern(_) => Ok(true),
    }
}

/// Hands the user their code: the one they already have, else a new one. `None` when the
/// pool or the cap is exhausted.
pub async fn assign(
    conn: &mut SqliteConnection,
    campaign: &Campaign,
    coupon: &Coupon,
    row: &PromptRow,
    now: i64,
) -> Result<Option<Assigned>, FlowError> {
    if let Some(existing) =
        coupons::assigned_to(conn, &campaign.id, &row.issuer, &row.subject).await?
    {
        return Ok(Some(existing));
    }
    if let Some(cap) = coupon.cap
        && coupons::assigned_count(conn, &campaign.id).await? >= i64::from(cap)
    {
        return Ok(None);
    }
    let claim = Claim {
        campaign: &campaign.id,
        issuer: &row.issuer,
        subject: &row.subject,
        prompt_id: &row.id,
        now,
        expires_at: coupon
            .expires_after
            .map(|d| now + i64::try_from(d.whole_milliseconds()).unwrap_or(i64::MAX / 2)),
    };
    match &coupon.source {
        CouponSource::Pool(_) => Ok(coupons::take_from_pool(conn, &claim).await?),
        CouponSource::Pattern(pattern) => {
            // A clash with an existing code is rare (31^8 for two blocks); try again.
            for _ in 0..10 {
                match coupons::insert_generated(conn, &claim, &generate(pattern)).await {
                    Ok(assigned) => return Ok(Some(assigned)),
                    Err(StoreError::Conflict) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            Err(FlowError::Corrupt(format!(
                "could not generate a unique code for `{}` in 10 tries; the pattern is too short",
                campaign.id
            )))
        }
    }
}

/// Reads the codes of a CSV file: the first column of each line, a `code` header skipped.
pub fn read_codes(text: &str) -> Vec<String> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let first = line
                .split(',')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches('"')
                .trim();
            let header = i == 0 && first.eq_ignore_ascii_case("code");
            (!first.is_empty() && !header && first.len() <= 128).then(|| first.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_follow_the_pattern_with_unambiguous_characters() {
        let code = generate("WELCOME-{XXXX}-{XXXX}");
        assert_eq!(code.len(), "WELCOME-XXXX-XXXX".len());
        assert!(code.starts_with("WELCOME-"));
        let random: String = code[8..].chars().filter(|c| *c != '-').collect();
        assert_eq!(random.len(), 8);
        assert!(random.bytes().all(|b| ALPHABET.contains(&b)), "{code}");
        assert_ne!(generate("{XXXXXXXX}"), generate("{XXXXXXXX}"));
    }

    #[test]
    fn csv_codes_skip_the_header_blank_lines_and_other_columns() {
        let codes = read_codes("code,batch\nAAA-1,one\n\n\"BBB-2\",two\nCCC-3\n");
        assert_eq!(codes, ["AAA-1", "BBB-2", "CCC-3"]);
    }
}
