//! Themes' design tokens: `themes/NAME/theme.yaml`, parsed and checked once at start and
//! applied to every page of the theme as CSS custom properties (`--primary`, `--radius`, …)
//! in the page's nonce'd `<style>`, before the campaign's branding, which overrides them.
//!
//! A theme names only the tokens it changes; the rest come from the default theme's
//! `theme.yaml` (or the built-in copy of it). Colours are `#rrggbb`, so their contrast can be
//! computed: [`Theme::contrast_problems`] holds a theme to WCAG 2.1 AA.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// The default theme's tokens, built in for when `themes/default/theme.yaml` is missing.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../themes/default/theme.yaml");

/// A theme.yaml that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ThemeError {
    /// The file.
    pub file: String,
    /// What is wrong (with line and column when the YAML itself is at fault).
    pub message: String,
}

/// `light` or `dark`: sets CSS `color-scheme`, so form controls and scrollbars match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Dark text on light surfaces.
    #[default]
    Light,
    /// Light text on dark surfaces.
    Dark,
}

/// The colour tokens, each `#rrggbb`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ColorsSpec {
    primary: Option<String>,
    primary_text: Option<String>,
    background: Option<String>,
    surface: Option<String>,
    text: Option<String>,
    muted: Option<String>,
    error: Option<String>,
    focus: Option<String>,
    border: Option<String>,
}

/// theme.yaml as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeSpec {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    scheme: Option<Scheme>,
    #[serde(default)]
    colors: ColorsSpec,
    #[serde(default)]
    radius: Option<String>,
    #[serde(default)]
    font: Option<String>,
    #[serde(default)]
    logo: Option<String>,
}

/// Colour token names, in the order they are written out.
pub const COLOR_TOKENS: [&str; 9] = [
    "primary",
    "primary_text",
    "background",
    "surface",
    "text",
    "muted",
    "error",
    "focus",
    "border",
];

/// A theme's tokens, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    /// Display name.
    pub name: String,
    /// What it looks like.
    pub description: Option<String>,
    /// Light or dark.
    pub scheme: Scheme,
    /// Colours by token name (see [`COLOR_TOKENS`]), `#rrggbb`.
    pub colors: BTreeMap<&'static str, String>,
    /// Corner radius, a CSS length.
    pub radius: Option<String>,
    /// Font stack.
    pub font: Option<String>,
    /// Logo: an https URL, or a file of the theme's `static/` folder.
    pub logo: Option<Logo>,
}

/// Where a theme's logo comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logo {
    /// An absolute https URL.
    Url(String),
    /// A file in `themes/NAME/static/`.
    File(String),
}

/// A `#rrggbb` colour.
pub fn parse_color(text: &str) -> Option<[u8; 3]> {
    let hex = text.strip_prefix('#')?;
    if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok();
    Some([byte(0)?, byte(2)?, byte(4)?])
}

/// WCAG 2.1 relative luminance.
fn luminance([r, g, b]: [u8; 3]) -> f64 {
    let channel = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.039_28 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
}

/// WCAG 2.1 contrast ratio of two colours (1 to 21).
pub fn contrast(a: [u8; 3], b: [u8; 3]) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    let (hi, lo) = if la > lb { (la, lb) } else { (lb, la) };
    (hi + 0.05) / (lo + 0.05)
}

/// Of black-ish and white, the text colour that reads best on `background`.
pub fn readable_on(background: [u8; 3]) -> &'static str {
    if contrast([255, 255, 255], background) >= contrast([17, 17, 17], background) {
        "#ffffff"
    } else {
        "#111111"
    }
}

/// The colour pairs a page draws and the contrast WCAG 2.1 AA asks of each: 4.5:1 for
/// text (1.4.3), 3:1 for focus rings and field borders (1.4.11).
pub const CONTRAST_PAIRS: [(&str, &str, f64); 8] = [
    ("text", "surface", 4.5),
    ("text", "background", 4.5),
    ("muted", "surface", 4.5),
    ("primary", "surface", 4.5),
    ("primary_text", "primary", 4.5),
    ("error", "surface", 4.5),
    ("focus", "surface", 3.0),
    ("border", "surface", 3.0),
];

fn radius_ok(s: &str) -> bool {
    if s == "0" {
        return true;
    }
    let number = s
        .strip_suffix("px")
        .or_else(|| s.strip_suffix("rem"))
        .or_else(|| s.strip_suffix("em"));
    number.is_some_and(|n| {
        !n.is_empty() && n.len() <= 6 && n.parse::<f64>().is_ok_and(|v| (0.0..=64.0).contains(&v))
    })
}

/// A font stack: family names (quoted or not) separated by commas, nothing that could end
/// the CSS declaration or the `<style>` element.
fn font_ok(s: &str) -> bool {
    !s.trim().is_empty()
        && s.len() <= 300
        && s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, ' ' | ',' | '-' | '_' | '"' | '\'' | '.'))
        && s.split(',').all(|family| !family.trim().is_empty())
}

fn file_name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn url_ok(s: &str) -> bool {
    s.strip_prefix("https://").is_some_and(|rest| {
        !rest.is_empty()
            && s.len() <= 2048
            && !s
                .chars()
                .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '\\'))
    })
}

impl Theme {
    /// Parses and checks a theme.yaml. `static_dir` is the theme's `static/` folder, where a
    /// logo file must exist (not checked when `None`).
    pub fn parse(file: &str, text: &str, static_dir: Option<&Path>) -> Result<Theme, ThemeError> {
        let fail = |message: String| ThemeError {
            file: file.to_owned(),
            message,
        };
        let spec: ThemeSpec = serde_saphyr::from_str(text).map_err(|e| fail(e.to_string()))?;
        let mut problems = Vec::new();
        let c = spec.colors;
        let mut colors = BTreeMap::new();
        for (name, value) in COLOR_TOKENS.into_iter().zip([
            c.primary,
            c.primary_text,
            c.background,
            c.surface,
            c.text,
            c.muted,
            c.error,
            c.focus,
            c.border,
        ]) {
            let Some(value) = value else { continue };
            if parse_color(&value).is_some() {
                colors.insert(name, value.to_ascii_lowercase());
            } else {
                problems.push(format!(
                    "`colors.{name}`: `{value}` is not a colour; write `#rrggbb` (quoted: \"#1a56b8\")"
                ));
            }
        }
        if let Some(r) = &spec.radius
            && !radius_ok(r)
        {
            problems.push(format!(
                "`radius`: `{r}` is not a length; write e.g. `8px`, `0.5rem` or `0`"
            ));
        }
        if let Some(f) = &spec.font
            && !font_ok(f)
        {
            problems.push(format!(
                "`font`: `{f}` is not a font stack; list families separated by commas, e.g. `\"Inter\", system-ui, sans-serif`"
            ));
        }
        let logo = match spec.logo {
            None => None,
            Some(l) if l.starts_with("https://") => {
                if url_ok(&l) {
                    Some(Logo::Url(l))
                } else {
                    problems.push(format!("`logo`: `{l}` is not a usable https URL"));
                    None
                }
            }
            Some(l) if file_name_ok(&l) => {
                match static_dir {
                    Some(dir) if !dir.join(&l).is_file() => problems.push(format!(
                        "`logo`: there is no file `{l}` in {}",
                        dir.display()
                    )),
                    _ => {}
                }
                Some(Logo::File(l))
            }
            Some(l) => {
                problems.push(format!(
                    "`logo`: `{l}` is neither an https URL nor a file name in the theme's static folder"
                ));
                None
            }
        };
        if !problems.is_empty() {
            return Err(fail(problems.join("; ")));
        }
        Ok(Theme {
            name: spec.name,
            description: spec.description,
            scheme: spec.scheme.unwrap_or_default(),
            colors,
            radius: spec.radius,
            font: spec.font,
            logo,
        })
    }

    /// This theme's tokens over `base`'s: what it does not set, `base` does.
    pub fn over(mut self, base: &Theme) -> Theme {
        for (k, v) in &base.colors {
            self.colors.entry(k).or_insert_with(|| v.clone());
        }
        self.radius = self.radius.or_else(|| base.radius.clone());
        self.font = self.font.or_else(|| base.font.clone());
        self
    }

    /// The tokens as CSS declarations for `:root`: `color-scheme: light; --primary: #…; …`.
    /// Every value was validated, so the text is safe inside a `<style>` element.
    pub fn css(&self) -> String {
        let mut css = format!(
            "color-scheme: {}; ",
            match self.scheme {
                Scheme::Light => "light",
                Scheme::Dark => "dark",
            }
        );
        for name in COLOR_TOKENS {
            if let Some(v) = self.colors.get(name) {
                css.push_str(&format!("--{}: {v}; ", name.replace('_', "-")));
            }
        }
        if let Some(r) = &self.radius {
            css.push_str(&format!("--radius: {r}; "));
        }
        if let Some(f) = &self.font {
            css.push_str(&format!("--font: {f}; "));
        }
        css.trim_end().to_owned()
    }

    /// The logo's address for a page of theme folder `folder`.
    pub fn logo_url(&self, folder: &str) -> Option<String> {
        self.logo.as_ref().map(|l| match l {
            Logo::Url(u) => u.clone(),
            Logo::File(f) => format!("/static/{folder}/{f}"),
        })
    }

    /// Every colour pair below the contrast WCAG 2.1 AA asks for, as
    /// `(foreground, background, ratio, required)`.
    pub fn contrast_problems(&self) -> Vec<(&'static str, &'static str, f64, f64)> {
        CONTRAST_PAIRS
            .iter()
            .filter_map(|&(fg, bg, min)| {
                let a = parse_color(self.colors.get(fg)?)?;
                let b = parse_color(self.colors.get(bg)?)?;
                let ratio = contrast(a, b);
                (ratio < min).then_some((fg, bg, ratio, min))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contrast_matches_the_wcag_formula() {
        assert!((contrast([0, 0, 0], [255, 255, 255]) - 21.0).abs() < 1e-9);
        assert!((contrast([255, 255, 255], [255, 255, 255]) - 1.0).abs() < 1e-9);
        // #767676 on white is the classic 4.54:1 grey.
        let grey = contrast([0x76, 0x76, 0x76], [255, 255, 255]);
        assert!((grey - 4.54).abs() < 0.01, "{grey}");
        assert_eq!(readable_on([0x1a, 0x56, 0xb8]), "#ffffff");
        assert_eq!(readable_on([0xff, 0xd1, 0x66]), "#111111");
    }

    #[test]
    fn the_built_in_default_is_complete_and_meets_aa() {
        let theme = Theme::parse("default", EMBEDDED_DEFAULT, None).unwrap();
        assert_eq!(theme.colors.len(), COLOR_TOKENS.len(), "{:?}", theme.colors);
        assert!(theme.radius.is_some() && theme.font.is_some());
        assert_eq!(theme.contrast_problems(), vec![]);
    }

    #[test]
    fn css_lists_the_tokens_and_inherits_what_is_missing() {
        let base = Theme::parse("default", EMBEDDED_DEFAULT, None).unwrap();
        let theme = Theme::parse(
            "x",
            "name: X\nscheme: dark\ncolors:\n  primary: \"#AABBCC\"\nradius: 0\n",
            None,
        )
        .unwrap()
        .over(&base);
        let css = theme.css();
        assert!(css.starts_with("color-scheme: dark; "), "{css}");
        assert!(css.contains("--primary: #aabbcc;"), "{css}");
        assert!(css.contains("--primary-text: #"), "{css}");
        assert!(css.contains("--radius: 0;"), "{css}");
        assert_eq!(theme.colors["surface"], base.colors["surface"]);
    }

    #[test]
    fn refuses_unknown_keys_and_bad_values() {
        let err = Theme::parse("t.yaml", "name: X\ncolours: {}\n", None).unwrap_err();
        assert!(err.message.contains("colours"), "{err}");
        let err = Theme::parse(
            "t.yaml",
            "name: X\ncolors: { primray: \"#000000\" }\n",
            None,
        )
        .unwrap_err();
        assert!(err.message.contains("primray"), "{err}");
        let err = Theme::parse(
            "t.yaml",
            "name: X\ncolors: { primary: red, text: \"#12345\" }\nradius: 1vw\nfont: \"a; } body { x\"\nlogo: ../x.svg\n",
            None,
        )
        .unwrap_err();
        for needle in [
            "`colors.primary`: `red`",
            "`colors.text`",
            "`radius`",
            "`font`",
            "`logo`",
        ] {
            assert!(err.message.contains(needle), "{needle} in {err}");
        }
        let err = Theme::parse("t.yaml", "name: X\nscheme: dim\n", None).unwrap_err();
        assert!(err.message.contains("dim"), "{err}");
    }

    #[test]
    fn a_logo_file_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let err =
            Theme::parse("t.yaml", "name: X\nlogo: logo.svg\n", Some(dir.path())).unwrap_err();
        assert!(err.message.contains("no file `logo.svg`"), "{err}");
        std::fs::write(dir.path().join("logo.svg"), "<svg/>").unwrap();
        let theme = Theme::parse("t.yaml", "name: X\nlogo: logo.svg\n", Some(dir.path())).unwrap();
        assert_eq!(theme.logo_url("x").as_deref(), Some("/static/x/logo.svg"));
        let theme =
            Theme::parse("t.yaml", "name: X\nlogo: https://cdn.example/l.png\n", None).unwrap();
        assert_eq!(
            theme.logo_url("x").as_deref(),
            Some("https://cdn.example/l.png")
        );
    }

    #[test]
    fn low_contrast_is_found() {
        let theme = Theme::parse(
            "t",
            "name: X\ncolors: { text: \"#999999\", surface: \"#ffffff\", primary: \"#ffdd00\", primary_text: \"#ffffff\" }\n",
            None,
        )
        .unwrap();
        let found: Vec<(&str, &str)> = theme
            .contrast_problems()
            .iter()
            .map(|p| (p.0, p.1))
            .collect();
        assert_eq!(
            found,
            [
                ("text", "surface"),
                ("primary", "surface"),
                ("primary_text", "primary")
            ]
        );
    }
}
