//! Pages: a minijinja environment over the theme folders, and typed views (one Serialize
//! struct per page) in `views`.
//!
//! A theme is `themes/NAME/` with `templates/*.html` and `static/*`. A template or asset a
//! theme lacks comes from `themes/default/`, and when that folder is missing too, from the
//! copy of the default theme built into the binary, so the service always has its pages.
//! HTML templates are autoescaped.
//!
//! Each theme's `theme.yaml` (design tokens, see [`theme`]) is read once, when the renderer
//! is made; every page then gets `theme_css` (the tokens as CSS custom properties) and
//! `theme_logo` besides its view.

pub mod strings;
pub mod theme;
pub mod views;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use minijinja::Environment;
use serde::Serialize;

pub use theme::{Theme, ThemeError};

/// Rendering failures (a broken theme template).
#[derive(Debug, thiserror::Error)]
#[error("template {template}: {message}")]
pub struct RenderError {
    /// Which template.
    pub template: String,
    /// What went wrong.
    pub message: String,
}

const EMBEDDED_TEMPLATES: [(&str, &str); 6] = [
    (
        "base.html",
        include_str!("../../themes/default/templates/base.html"),
    ),
    (
        "form.html",
        include_str!("../../themes/default/templates/form.html"),
    ),
    (
        "continue.html",
        include_str!("../../themes/default/templates/continue.html"),
    ),
    (
        "message.html",
        include_str!("../../themes/default/templates/message.html"),
    ),
    (
        "dev.html",
        include_str!("../../themes/default/templates/dev.html"),
    ),
    (
        "dev_continue.html",
        include_str!("../../themes/default/templates/dev_continue.html"),
    ),
];

const EMBEDDED_STATIC: [(&str, &str); 1] = [(
    "style.css",
    include_str!("../../themes/default/static/style.css"),
)];

/// A theme or file name is safe when it cannot walk out of its folder.
fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Reads `themes/THEME/SUB/FILE`, else the default theme's, else the built-in copy.
fn theme_file(
    themes_dir: &Path,
    theme: &str,
    sub: &str,
    file: &str,
    embedded: &[(&str, &str)],
) -> Option<Vec<u8>> {
    if !safe_name(theme) || !safe_name(file) {
        return None;
    }
    for t in [theme, "default"] {
        if let Ok(bytes) = std::fs::read(themes_dir.join(t).join(sub).join(file)) {
            return Some(bytes);
        }
    }
    embedded
        .iter()
        .find(|(name, _)| *name == file)
        .map(|(_, text)| text.as_bytes().to_vec())
}

/// Reads every theme's tokens: `themes_dir/NAME/theme.yaml` over the default theme's.
/// A folder without a theme.yaml has the default's tokens; a theme.yaml with problems is
/// left out (its folder gets the default's tokens) and its problems are returned.
fn load_themes(themes_dir: &Path) -> (BTreeMap<String, Theme>, Vec<ThemeError>) {
    let mut problems = Vec::new();
    let builtin = || Theme::parse("built-in default theme.yaml", theme::EMBEDDED_DEFAULT, None);
    let default_file = themes_dir.join("default").join("theme.yaml");
    let base = match std::fs::read_to_string(&default_file) {
        Ok(text) => Theme::parse(
            &default_file.display().to_string(),
            &text,
            Some(&themes_dir.join("default").join("static")),
        )
        .map_err(|e| problems.push(e))
        .ok()
        .and_then(|t| builtin().ok().map(|b| t.over(&b))),
        Err(_) => None,
    }
    .or_else(|| builtin().map_err(|e| problems.push(e)).ok());
    let mut themes = BTreeMap::new();
    let Some(base) = base else {
        return (themes, problems);
    };
    let mut folders: Vec<String> = std::fs::read_dir(themes_dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().is_dir())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|name| safe_name(name) && name != "default")
                .collect()
        })
        .unwrap_or_default();
    folders.sort();
    for folder in folders {
        let file = themes_dir.join(&folder).join("theme.yaml");
        let parsed = match std::fs::read_to_string(&file) {
            Ok(text) => Theme::parse(
                &file.display().to_string(),
                &text,
                Some(&themes_dir.join(&folder).join("static")),
            )
            .map(|t| t.over(&base))
            .map_err(|e| problems.push(e))
            .ok(),
            Err(_) => None,
        };
        themes.insert(folder, parsed.unwrap_or_else(|| base.clone()));
    }
    themes.insert("default".to_owned(), base);
    (themes, problems)
}

/// Every problem of a themes folder, one per line.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct ThemeProblems(pub Vec<ThemeError>);

/// The page renderer.
#[derive(Debug)]
pub struct Renderer {
    env: Environment<'static>,
    themes_dir: PathBuf,
    themes: BTreeMap<String, Loaded>,
}

/// A theme's tokens, and the CSS custom properties they make, written once (every page
/// has them).
#[derive(Debug)]
struct Loaded {
    tokens: Theme,
    css: String,
}

impl Renderer {
    /// A renderer over `themes_dir`, with every theme's tokens read and checked: refused
    /// when any theme.yaml has a problem (what `interlude check` and tests want).
    pub fn load(themes_dir: &Path) -> Result<Self, ThemeProblems> {
        let (themes, problems) = load_themes(themes_dir);
        if !problems.is_empty() {
            return Err(ThemeProblems(problems));
        }
        Ok(Self::with_themes(themes_dir, themes))
    }

    /// A renderer over `themes_dir` that always starts: a theme.yaml with problems is
    /// logged as an error and that theme gets the default tokens, so a bad theme file
    /// never takes the service down.
    pub fn new(themes_dir: &Path) -> Self {
        let (themes, problems) = load_themes(themes_dir);
        for p in &problems {
            tracing::error!(problem = %p, "theme tokens refused; the default tokens apply");
        }
        Self::with_themes(themes_dir, themes)
    }

    fn with_themes(themes_dir: &Path, themes: BTreeMap<String, Theme>) -> Self {
        for (name, t) in &themes {
            for (fg, bg, ratio, min) in t.contrast_problems() {
                tracing::warn!(theme = %name, "`{fg}` on `{bg}` has contrast {ratio:.2}:1, below the {min}:1 of WCAG 2.1 AA");
            }
        }
        let mut env = Environment::new();
        let dir = themes_dir.to_path_buf();
        env.set_loader(move |name| {
            let Some((theme, file)) = name.split_once('/') else {
                return Ok(None);
            };
            Ok(
                theme_file(&dir, theme, "templates", file, &EMBEDDED_TEMPLATES)
                    .and_then(|bytes| String::from_utf8(bytes).ok()),
            )
        });
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        let themes = themes
            .into_iter()
            .map(|(name, tokens)| {
                let css = tokens.css();
                (name, Loaded { tokens, css })
            })
            .collect();
        Self {
            env,
            themes_dir: themes_dir.to_path_buf(),
            themes,
        }
    }

    /// The tokens of theme folder `name` (the default's for an unknown name).
    pub fn theme(&self, name: &str) -> Option<&Theme> {
        self.loaded(name).map(|l| &l.tokens)
    }

    fn loaded(&self, name: &str) -> Option<&Loaded> {
        self.themes.get(name).or_else(|| self.themes.get("default"))
    }

    /// Theme folder names.
    pub fn theme_names(&self) -> impl Iterator<Item = &str> {
        self.themes.keys().map(String::as_str)
    }

    /// Renders `themes/THEME/templates/PAGE.html` with `view`.
    pub fn render<V: Serialize>(
        &self,
        theme: &str,
        page: &str,
        view: &V,
    ) -> Result<String, RenderError> {
        let name = format!("{theme}/{page}.html");
        let err = |e: minijinja::Error| RenderError {
            template: name.clone(),
            message: e.to_string(),
        };
        let template = self.env.get_template(&name).map_err(err)?;
        let loaded = self.loaded(theme);
        // Validated tokens only (see theme.rs): safe to write into the <style> element
        // without HTML escaping, which would break quoted font names.
        let theme_css =
            minijinja::Value::from_safe_string(loaded.map(|l| l.css.clone()).unwrap_or_default());
        let theme_logo = loaded.and_then(|l| l.tokens.logo_url(theme));
        template
            .render(minijinja::context! {
                theme_css,
                theme_logo,
                ..minijinja::Value::from(minijinja::value::Serde(view))
            })
            .map_err(err)
    }

    /// A theme's static file and its content type.
    pub fn asset(&self, theme: &str, file: &str) -> Option<(Vec<u8>, &'static str)> {
        let bytes = theme_file(&self.themes_dir, theme, "static", file, &EMBEDDED_STATIC)?;
        let kind = match file.rsplit('.').next() {
            Some("css") => "text/css; charset=utf-8",
            Some("js") => "text/javascript; charset=utf-8",
            Some("svg") => "image/svg+xml",
            Some("png") => "image/png",
            Some("woff2") => "font/woff2",
            _ => "application/octet-stream",
        };
        Some((bytes, kind))
    }
}
