//! Cluster scripts that run a sweep's shards: a Slurm job array (one array task per shard, index
//! = shard) and a Kubernetes Indexed Job (one completion per shard). Both call
//! `lightnasc sweep PLAN --shard I/N`; the cluster's own retry reruns a failed shard alone.

use serde_json::json;

use super::plan::SweepPlan;

/// A word for `bash`: as is when it is plainly safe, else single-quoted.
pub fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c));
    if safe { s.to_string() } else { format!("'{}'", s.replace('\'', r"'\''")) }
}

pub struct Slurm {
    /// The lightnasc binary, as the compute nodes see it.
    pub exe: String,
    /// The folder the plan's relative paths are relative to (the job's `--chdir`).
    pub workdir: String,
    /// At most this many shards at once (`--array=0-N%P`).
    pub parallel: Option<usize>,
    /// More `#SBATCH` options, verbatim (`--partition=gpu`, `--time=04:00:00`).
    pub extra: Vec<String>,
}

/// A job-array script: `sbatch` it; `sbatch --array=I` of it reruns shard I.
pub fn slurm(plan_path: &str, plan: &SweepPlan, shards: usize, o: &Slurm) -> String {
    let mut array = format!("0-{}", shards - 1);
    if let Some(p) = o.parallel {
        array.push_str(&format!("%{p}"));
    }
    let logs = plan.out.join("logs");
    let mut s = format!(
        "#!/bin/bash\n\
         # The sweep `{name}` ({units} runs) as a Slurm job array: array task I runs shard I of {shards}.\n\
         # Submit with `sbatch THIS_FILE`; rerun one failed shard with `sbatch --array=I THIS_FILE`\n\
         # (finished runs are skipped, half-done ones resume from their checkpoints).\n\
         #SBATCH --job-name={job}\n\
         #SBATCH --array={array}\n\
         #SBATCH --chdir={workdir}\n\
         #SBATCH --output={logs}/slurm-%A_%a.log\n",
        name = plan.name,
        units = plan.units.len(),
        job = shell_quote(&format!("lightnasc-{}", plan.name)),
        workdir = shell_quote(&o.workdir),
        logs = shell_quote(&logs.display().to_string()),
    );
    let gpus = plan.gpus_per_shard();
    if gpus > 0 {
        s.push_str(&format!("#SBATCH --gres=gpu:{gpus}\n"));
    }
    for e in &o.extra {
        s.push_str(&format!("#SBATCH {e}\n"));
    }
    s.push_str(&format!(
        "set -euo pipefail\nexec {} sweep {} --shard \"${{SLURM_ARRAY_TASK_ID}}/{shards}\"\n",
        shell_quote(&o.exe),
        shell_quote(plan_path)
    ));
    s
}

pub struct Kubernetes {
    /// A container image with `lightnasc` on its PATH (and the data it reads).
    pub image: String,
    /// A ReadWriteMany PersistentVolumeClaim holding the plan, specs and runs.
    pub claim: String,
    /// Where it is mounted; the container's working directory.
    pub mount: String,
    pub parallel: Option<usize>,
    /// Retries of each failed shard (`backoffLimitPerIndex`, Kubernetes 1.29+).
    pub retries: usize,
}

/// A Job name: lowercase letters, digits and `-`, at most 63 characters.
fn dns_label(s: &str) -> String {
    let mut out: String =
        s.to_ascii_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).take(63).collect();
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// An Indexed Job manifest: `kubectl apply -f` it.
pub fn kubernetes(plan_path: &str, plan: &SweepPlan, shards: usize, o: &Kubernetes) -> String {
    let labels = json!({ "app.kubernetes.io/name": "lightnasc", "lightnasc/sweep": dns_label(&plan.name) });
    let mut container = json!({
        "name": "shard",
        "image": o.image,
        "workingDir": o.mount,
        // The Job controller sets JOB_COMPLETION_INDEX in each pod; `$(VAR)` expands it.
        "command": ["lightnasc", "sweep", plan_path, "--shard", format!("$(JOB_COMPLETION_INDEX)/{shards}")],
        "volumeMounts": [{ "name": "work", "mountPath": o.mount }],
    });
    let gpus = plan.gpus_per_shard();
    if gpus > 0 {
        container["resources"] = json!({ "limits": { "nvidia.com/gpu": gpus } });
    }
    let job = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": { "name": dns_label(&format!("lightnasc-{}", plan.name)), "labels": labels },
        "spec": {
            "completionMode": "Indexed",
            "completions": shards,
            "parallelism": o.parallel.unwrap_or(shards).min(shards),
            "backoffLimitPerIndex": o.retries,
            "template": {
                "metadata": { "labels": labels },
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [container],
                    "volumes": [{ "name": "work", "persistentVolumeClaim": { "claimName": o.claim } }],
                },
            },
        },
    });
    let header = format!(
        "# The sweep `{}` ({} runs) as a Kubernetes Indexed Job: completion index I runs shard I of {shards}.\n\
         # Apply with `kubectl apply -f THIS_FILE`; a failed shard is retried alone (backoffLimitPerIndex).\n",
        plan.name,
        plan.units.len()
    );
    header + &serde_norway::to_string(&job).expect("a manifest serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_only_when_bash_would_split_or_expand_them() {
        assert_eq!(shell_quote("specs/sweeps/demo.yml"), "specs/sweeps/demo.yml");
        assert_eq!(shell_quote("my plan.yml"), "'my plan.yml'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(dns_label("lightnasc-Demo_Seeds--"), "lightnasc-demo-seeds");
    }
}
