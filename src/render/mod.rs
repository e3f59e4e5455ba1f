//! Pages: a minijinja environment over the theme folders, and typed views (one Serialize
//! struct per page) in `views`.
//!
//! A theme is `themes/NAME/` with `templates/*.html` and `static/*`. A template or asset a
//! theme lacks comes from `themes/default/`, and when that folder is missing too, from the
//! copy of the default theme built into the binary, so the service always has its pages.
//! HTML templates are autoescaped.

pub mod strings;
pub mod views;

use std::path::{Path, PathBuf};

use minijinja::Environment;
use serde::Serialize;

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

/// The page renderer.
#[derive(Debug)]
pub struct Renderer {
    env: Environment<'static>,
    themes_dir: PathBuf,
}

impl Renderer {
    /// A renderer over `themes_dir`.
    pub fn new(themes_dir: &Path) -> Self {
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
        Self {
            env,
            themes_dir: themes_dir.to_path_buf(),
        }
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
        template
            .render(minijinja::Value::from(minijinja::value::Serde(view)))
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
