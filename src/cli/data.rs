//! `lightnasc data`: fetch named datasets ahead of a run (a login node before a Slurm sweep),
//! list the copies runs would read, and re-check the cache's against its manifests.

use std::process::ExitCode;

use lightnasc::data::sources::sha1_of;
use lightnasc::data::{DataArg, Kind, fetch, locate};

use super::fail;

#[derive(clap::Args, Debug)]
pub struct DataArgs {
    #[command(subcommand)]
    pub action: DataAction,
}

#[derive(clap::Subcommand, Debug)]
pub enum DataAction {
    /// Fetch datasets into the cache unless a copy is found (checked against the published checksums).
    #[command(after_help = "Example:\n  lightnasc data fetch cifar10 cifar100")]
    Fetch {
        /// cifar10, cifar100, fashion-mnist.
        #[arg(required = true)]
        names: Vec<DataArg>,
        /// A folder (URL) with the publisher's file names (else LIGHTNASC_DATA_MIRROR, else the publisher).
        #[arg(long)]
        mirror: Option<String>,
    },
    /// The copy of each dataset a run would read without fetching, its size and checksums' state.
    List,
    /// Re-check the cache's copies against the checksums recorded when they were fetched.
    Verify {
        /// Which datasets (default: every one in the cache).
        names: Vec<DataArg>,
    },
}

const ALL: [Kind; 3] = [Kind::Cifar10, Kind::Cifar100, Kind::FashionMnist];

fn kinds(names: &[DataArg]) -> Result<Vec<Kind>, ExitCode> {
    names
        .iter()
        .map(|n| match n {
            DataArg::Named { kind, mock: false } => Ok(*kind),
            other => Err(fail(format!("`{other}` is not a dataset to fetch: cifar10, cifar100 or fashion-mnist"))),
        })
        .collect()
}

pub fn run(args: &DataArgs) -> ExitCode {
    match &args.action {
        DataAction::Fetch { names, mirror } => {
            let kinds = match kinds(names) {
                Ok(k) => k,
                Err(code) => return code,
            };
            for kind in kinds {
                if let Err(e) = locate::locate(kind, None, mirror.as_deref()) {
                    return fail(e);
                }
            }
            ExitCode::SUCCESS
        }
        DataAction::List => {
            println!("cache: {}", fetch::data_root().display());
            for kind in ALL {
                match locate::found(kind) {
                    Some(s) => {
                        let bytes: u64 = s
                            .checksums
                            .keys()
                            .filter_map(|f| std::fs::metadata(s.path.join(f)).ok())
                            .map(|m| m.len())
                            .sum();
                        let mb = bytes as f64 / 1e6;
                        println!("{:<14} {} ({mb:.1} MB; {})", kind.name(), s.path.display(), s.found);
                    }
                    None => println!(
                        "{:<14} not here: a run fetches it (or `lightnasc data fetch {}`)",
                        kind.name(),
                        kind.name()
                    ),
                }
            }
            ExitCode::SUCCESS
        }
        DataAction::Verify { names } => {
            let kinds = match kinds(names) {
                Ok(k) if k.is_empty() => ALL.into_iter().filter(|k| fetch::cached(*k).is_some()).collect(),
                Ok(k) => k,
                Err(code) => return code,
            };
            let mut bad = 0;
            for kind in kinds {
                bad += verify(kind);
            }
            if bad > 0 { fail(format!("{bad} file(s) differ from their record")) } else { ExitCode::SUCCESS }
        }
    }
}

/// Each cached file against the manifest's SHA-1, and against the published one; how many differ
/// from the manifest.
fn verify(kind: Kind) -> usize {
    let Some(s) = fetch::cached(kind).and(locate::found(kind)) else {
        println!("{:<14} not in the cache", kind.name());
        return 0;
    };
    let mut bad = 0;
    for (file, recorded) in &s.checksums {
        let path = s.path.join(file);
        let now = sha1_of(&path).map(|d| format!("sha1:{d}")).unwrap_or_else(|e| format!("unreadable ({e})"));
        let published =
            kind.source().files.iter().find(|k| k.file == file).is_some_and(|k| now == format!("sha1:{}", k.digest));
        let state = match (&now == recorded, published) {
            (true, true) => "ok, the published file",
            (true, false) => "ok, as fetched (not the published file: a mirror's or a test's)",
            (false, _) => {
                bad += 1;
                "CHANGED since it was fetched"
            }
        };
        println!("{:<14} {}: {state}", kind.name(), path.display());
    }
    bad
}
