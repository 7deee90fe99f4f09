//! `lightnasc devices`: what each backend would run on here, and for a GPU setup that does not
//! work, why and how to fix it (the probe every GPU command runs first). Exit 1 when a backend
//! compiled into this binary cannot run.

use std::process::ExitCode;

use lightnasc::net::probe;
use serde::Serialize;

use super::{DevicesArgs, Format};

#[derive(Serialize)]
struct Backend {
    device: &'static str,
    compiled: bool,
    /// What it runs on, when it works.
    found: Option<String>,
    /// Why not, with the fix.
    error: Option<String>,
}

pub fn run(args: &DevicesArgs) -> ExitCode {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut rows = vec![Backend {
        device: "cpu",
        compiled: true,
        found: Some(format!("burn Flex, {threads} threads")),
        error: None,
    }];
    let split = |r: Result<String, probe::DeviceError>| match r {
        Ok(found) => (Some(found), None),
        Err(e) => (None, Some(e.to_string())),
    };
    #[cfg(feature = "wgpu")]
    let (found, error) = split(probe::wgpu().map(|names| names.join("; ")));
    #[cfg(not(feature = "wgpu"))]
    let (found, error) = (None, None);
    rows.push(Backend { device: "wgpu", compiled: cfg!(feature = "wgpu"), found, error });
    let (found, error) = split(probe::cuda(0).map(|s| {
        format!(
            "{} GPU(s), driver {} (CUDA {}.{}), NVRTC {}.{} ({})",
            s.gpus,
            s.driver_path,
            s.driver_version.0,
            s.driver_version.1,
            s.nvrtc_version.0,
            s.nvrtc_version.1,
            s.nvrtc_path
        )
    }));
    rows.push(Backend { device: "cuda", compiled: cfg!(feature = "cuda"), found, error });
    let broken = rows.iter().any(|r| r.compiled && r.error.is_some());
    match args.format {
        Format::Json => super::emit(&format!("{}\n", serde_json::to_string_pretty(&rows).unwrap())),
        Format::Text => {
            let mut o = String::new();
            for r in &rows {
                let built = if r.compiled { "" } else { " (not compiled into this lightnasc)" };
                let what = match (&r.found, &r.error) {
                    (Some(f), _) => f.clone(),
                    (_, Some(e)) => format!("unusable: {e}"),
                    _ => "not checked".into(),
                };
                o += &format!("{:<5} {what}{built}\n", r.device);
            }
            super::emit(&o);
        }
    }
    if broken { ExitCode::from(1) } else { ExitCode::SUCCESS }
}
