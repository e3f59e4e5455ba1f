//! Interlude: the page a login takes a detour through.
//!
//! An identity provider's post-login hook sends the user here with a signed token; Interlude
//! picks the campaign that applies, shows it, records the answer and sends the user back
//! with a signed token carrying the outcome. See DESIGN.md in the shared folder.

pub mod campaign;
pub mod cli;
pub mod config;
pub mod detour;
pub mod form;
pub mod outcomes;
pub mod render;
pub mod rules;
pub mod state;
pub mod store;
pub mod suggest;
pub mod telemetry;
pub mod token;
pub mod web;
