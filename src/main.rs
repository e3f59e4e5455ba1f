//! The `interlude` command: parse arguments and hand over to the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use interlude::cli;

/// mimalloc instead of the C library's allocator: about 15 % less CPU per login and
/// answer in the benchmark (the two cores' threads hand buffers to each other all the time),
/// for about 20 MiB more resident memory. docs/benchmark.md has the measurements.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "interlude",
    version,
    about = "The page a login takes a detour through"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Lint a campaigns folder: print every problem, exit 1 if there are any.
    Check {
        /// The campaigns folder.
        #[arg(default_value = "campaigns")]
        dir: PathBuf,
        /// The themes folder (default: ./themes when it exists).
        #[arg(long)]
        themes: Option<PathBuf>,
    },
    /// Show, for each campaign, whether it would fire for a user and why.
    Explain {
        /// The campaigns folder.
        dir: PathBuf,
        /// A JSON file with the token's claims.
        #[arg(long)]
        claims: PathBuf,
        /// A JSON file with the user's history: {"prompts": [...], "tos": [...]}.
        #[arg(long)]
        history: Option<PathBuf>,
        /// Evaluate at this time (RFC 3339) instead of now.
        #[arg(long)]
        now: Option<String>,
    },
    /// Print the JSON Schema of the campaign format.
    Schema,
    /// Create the database if needed and apply the migrations, then exit.
    Migrate {
        /// The database.
        #[arg(
            long,
            env = "INTERLUDE_DATABASE_URL",
            default_value = "sqlite://interlude.db"
        )]
        database_url: String,
    },
    /// Manage coupon codes.
    Coupons {
        #[command(subcommand)]
        command: CouponsCommand,
    },
    /// Run the service.
    Serve {
        /// A YAML settings file (INTERLUDE_* environment variables override it).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Dev mode: the IdP emulator at /_dev, a throwaway secret, http allowed.
        #[arg(long)]
        dev: bool,
    },
}

#[derive(Subcommand)]
enum CouponsCommand {
    /// Add the codes of a CSV file (first column) to a campaign's pool; known codes are kept.
    Import {
        /// The campaign id.
        campaign: String,
        /// The CSV file.
        file: PathBuf,
        /// The database.
        #[arg(
            long,
            env = "INTERLUDE_DATABASE_URL",
            default_value = "sqlite://interlude.db"
        )]
        database_url: String,
        /// The campaigns folder (to check the campaign exists).
        #[arg(long, env = "INTERLUDE_CAMPAIGNS_DIR", default_value = "campaigns")]
        campaigns: PathBuf,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.command {
        Command::Check { dir, themes } => cli::check(&dir, themes.as_deref()),
        Command::Explain {
            dir,
            claims,
            history,
            now,
        } => cli::explain(&dir, &claims, history.as_deref(), now.as_deref()),
        Command::Serve { config, dev } => cli::serve(config.as_deref(), dev),
        Command::Migrate { database_url } => cli::migrate(&database_url),
        Command::Coupons {
            command:
                CouponsCommand::Import {
                    campaign,
                    file,
                    database_url,
                    campaigns,
                },
        } => cli::import_coupons(&campaigns, &campaign, &file, &database_url),
        Command::Schema => {
            print!("{}", interlude::campaign::schema::campaign_schema_text());
            Ok(true)
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
