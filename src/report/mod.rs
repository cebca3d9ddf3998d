//! Renders a `Report` for people (coloured text, GitHub markdown) and for machines (JSON).
//! Renderers are pure: they never call git, kustomize or the network.

pub mod json;
pub mod markdown;
pub mod text;

use crate::diff::Report;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Markdown,
    Json,
}

/// Renders the report; `color` only affects text.
pub fn render(report: &Report, format: Format, color: bool) -> String {
    match format {
        Format::Text => text::render(report, color),
        Format::Markdown => markdown::render(report),
        Format::Json => json::render(report),
    }
}
