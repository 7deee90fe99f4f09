//! `sweep --emit slurm` on a real Slurm: munged, slurmctld and slurmd (Debian's `munge` and
//! `slurm-wlm`, which `.ci/run` installs) started here on this machine as a one-node cluster with
//! its own ports, key and state folder, stopped when the test ends. The script is submitted with
//! `sbatch` as a user would; every shard runs as a task of the job array; the ledger then holds
//! every run once and `sweep --status` says all finished. A shard resubmitted alone
//! (`sbatch --array=I`) skips its finished run.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The daemons, killed when the cluster goes.
struct Cluster {
    dir: PathBuf,
    conf: PathBuf,
    daemons: Vec<Child>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for d in &mut self.daemons {
            let _ = d.kill();
            let _ = d.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn need(program: &str) -> PathBuf {
    ["/usr/sbin", "/usr/bin"]
        .iter()
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("no {program}: install Debian's slurm-wlm and munge (.ci/run does)"))
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

impl Cluster {
    fn start(dir: &Path) -> Cluster {
        let host = String::from_utf8(Command::new("hostname").arg("-s").output().unwrap().stdout).unwrap();
        let host = host.trim();
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        std::fs::create_dir_all(dir.join("state")).unwrap();
        std::fs::create_dir_all(dir.join("spool")).unwrap();
        // munge: a key and a socket of this cluster's own.
        let key: Vec<u8> = (0..1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let key_file = dir.join("munge.key");
        std::fs::write(&key_file, key).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let socket = dir.join("munge.socket");
        let d = dir.display();
        let munged = Command::new(need("munged"))
            .args(["--foreground", "--force", "--key-file"])
            .arg(&key_file)
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--pid-file={d}/munged.pid"))
            .arg(format!("--log-file={d}/munged.log"))
            .arg(format!("--seed-file={d}/munged.seed"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let conf = dir.join("slurm.conf");
        let (ctld, slurmd) = (free_port(), free_port());
        std::fs::write(
            &conf,
            format!(
                "ClusterName=lightnasc\nSlurmctldHost={host}\nAuthType=auth/munge\nAuthInfo=socket={socket}\n\
                 CredType=cred/munge\nProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n\
                 SlurmUser=root\nSlurmdUser=root\nSlurmctldPort={ctld}\nSlurmdPort={slurmd}\n\
                 SlurmctldPidFile={d}/slurmctld.pid\nSlurmdPidFile={d}/slurmd.pid\nSlurmdSpoolDir={d}/spool\n\
                 StateSaveLocation={d}/state\nSlurmctldLogFile={d}/slurmctld.log\nSlurmdLogFile={d}/slurmd.log\n\
                 ReturnToService=2\nSchedulerType=sched/builtin\nSelectType=select/cons_tres\n\
                 SelectTypeParameters=CR_Core\nJobCompType=jobcomp/none\n\
                 AccountingStorageType=accounting_storage/none\nMpiDefault=none\n\
                 NodeName={host} CPUs={cpus} State=UNKNOWN\n\
                 PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP\n",
                socket = socket.display(),
            ),
        )
        .unwrap();
        let mut cluster = Cluster { dir: dir.to_path_buf(), conf, daemons: vec![munged] };
        cluster.wait_for("munged's socket", || socket.exists());
        for (daemon, flag) in [("slurmctld", "-D"), ("slurmd", "-D")] {
            let child = Command::new(need(daemon))
                .args([flag, "-f"])
                .arg(&cluster.conf)
                .env("SLURM_CONF", &cluster.conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            cluster.daemons.push(child);
        }
        cluster.wait_for("the node to be idle", || {
            let out = cluster.command("sinfo").args(["-h", "-o", "%T"]).output().unwrap();
            String::from_utf8_lossy(&out.stdout).trim() == "idle"
        });
        cluster
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(need(program));
        c.env("SLURM_CONF", &self.conf);
        c
    }

    fn wait_for(&self, what: &str, mut ready: impl FnMut() -> bool) {
        let started = Instant::now();
        while !ready() {
            let logs: String = ["munged.log", "slurmctld.log", "slurmd.log"]
                .iter()
                .map(|l| format!("{l}:\n{}\n", std::fs::read_to_string(self.dir.join(l)).unwrap_or_default()))
                .collect();
            assert!(started.elapsed() < Duration::from_secs(120), "waited 120 s for {what}\n{logs}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `sbatch` the script with `extra` options; waits until the job has left the queue.
    fn run(&self, script: &Path, extra: &[&str]) {
        let out = self.command("sbatch").arg("--parsable").args(extra).arg(script).output().unwrap();
        assert!(out.status.success(), "sbatch: {}", text(&out));
        let job = String::from_utf8_lossy(&out.stdout).trim().to_string();
        self.wait_for(&format!("job {job} to finish"), || {
            let q = self.command("squeue").args(["-h", "-j", &job]).output().unwrap();
            q.status.success() && q.stdout.is_empty()
        });
    }
}

#[test]
fn a_sweep_submitted_with_sbatch_runs_every_shard_on_slurm() {
    if !common::full_tier("Debian's slurm-wlm and munge") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(&dir.path().join("slurm"));
    let out = dir.path().join("sweep");
    let cfg = dir.path().join("c.yml");
    std::fs::write(&cfg, "epochs: 1\nbatch_size: 64\ntrain_limit: 256\nreward: {latency: ops}\n").unwrap();
    let demo = common::root().join("specs/demo.lnas");
    let plan = dir.path().join("plan.yml");
    std::fs::write(
        &plan,
        format!(
            "name: s\nout: {out}\ncommon:\n  config: {cfg}\n  data: mock:fashion-mnist\nruns:\n  \
             - search: {demo}\n    seed: [1, 2]\n  - train: {demo}\n    pin: random:1\n",
            out = out.display(),
            cfg = cfg.display(),
            demo = demo.display()
        ),
    )
    .unwrap();
    let plan_arg = plan.to_str().unwrap();
    let emitted = common::lightnasc(&["sweep", plan_arg, "--emit", "slurm", "--parallel", "2"]);
    let script = dir.path().join("s.sbatch");
    std::fs::write(&script, common::ok(&emitted)).unwrap();

    cluster.run(&script, &[]);
    let logs: Vec<PathBuf> = std::fs::read_dir(out.join("logs")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(logs.len(), 3, "one Slurm log per array task: {logs:?}");
    let status = common::lightnasc(&["sweep", plan_arg, "--status"]);
    let said = common::ok(&status);
    assert!(said.contains("3 finished"), "{said}\nlogs:\n{}", all(&logs));
    let ledgers = ledger_runs(&out);
    assert_eq!(ledgers.len(), 3, "{ledgers:?}");
    let mut unique = ledgers.clone();
    unique.dedup();
    assert_eq!(unique, ledgers, "every run once");

    // One shard again, as its script says to rerun a failed one: it finds its run done.
    cluster.run(&script, &["--array=1"]);
    assert_eq!(ledger_runs(&out), ledgers, "nothing ran twice");
    let again = std::fs::read_dir(out.join("logs")).unwrap().map(|e| e.unwrap().path()).find(|p| !logs.contains(p));
    let again = std::fs::read_to_string(again.expect("the rerun's log")).unwrap();
    assert!(again.contains("finished (in the ledger); skipped"), "{again}");
}

fn all(logs: &[PathBuf]) -> String {
    logs.iter().map(|l| std::fs::read_to_string(l).unwrap_or_default()).collect::<Vec<_>>().join("\n")
}

/// The run folders every ledger of the sweep names, sorted.
fn ledger_runs(out: &Path) -> Vec<String> {
    let mut runs: Vec<String> = common::sweep_ledger(out).into_iter().map(|(run, _)| run).collect();
    runs.sort();
    runs
}
