//! One integration-test binary (faster to link than many), one module per area.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod actions;
mod admin;
mod campaigns;
mod cli;
mod config;
mod dev;
mod helpers;
mod outcomes;
mod pages;
mod refusals;
mod round_trip;
