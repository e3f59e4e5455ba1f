//! One integration-test binary (faster to link than many), one module per area.

mod campaigns;
mod cli;
