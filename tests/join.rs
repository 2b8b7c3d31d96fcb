//! `llmload export-ids` on the real binary, and scripts/join.sh against a real, throwaway
//! PostgreSQL cluster: a gateway request log planted from a real run's results (server
//! latency = client latency − a known offset, some conversations missing, decoys outside the
//! run's window), joined back by conversation UUID. PostgreSQL's server binaries are
//! required (scripts/install-test-deps.sh installs them): without them the test fails.

mod common;

use std::collections::HashSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{run_limited, run_llmload, tempdir};

const BIN: &str = env!("CARGO_BIN_EXE_llmload");
/// Planted: server latency = client latency − OFFSET_MS.
const OFFSET_MS: f64 = 7.25;
/// Every MISSING_EVERY-th measured conversation (the 2nd, then every 3rd) is missing from
/// the gateway log.
const MISSING_EVERY: usize = 3;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn export_ids_formats_and_a_bad_line_on_the_binary() {
    let dir = tempdir("export");
    let a = "0b5e3c1a-9f1d-4c2b-8a7e-2d4f6a8b0c1e";
    let line = |uuid: &str, turn: u32, warmup: bool| {
        serde_json::json!({
            "stage": 1, "scenario": "chat, long", "protocol": "openai-chat", "conv_uuid": uuid,
            "turn": turn, "intended_start": 1_700_000_000_000_000u64, "latency_us": 1500,
            "ttft_us": null, "status": 429, "error": "http_429", "completion_tokens": 0,
            "warmup": warmup
        })
        .to_string()
    };
    let good = format!("{}\n{}\n{}\n", line(a, 1, true), line(a, 2, false), line(a, 3, false));
    std::fs::write(dir.join("results.jsonl"), &good).unwrap();
    let export =
        |args: &[&str]| run_limited(Command::new(BIN).arg("export-ids").args(args), Duration::from_secs(30));

    let o = export(&[dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), format!("{a}\n"));
    let o = export(&[dir.join("results.jsonl").to_str().unwrap(), "--format", "csv"]);
    assert_eq!(
        text(&o.stdout),
        format!(
            "conv_uuid,turn,stage,scenario,intended_start_us,latency_us,ttft_us,status,error,completion_tokens\n\
             {a},2,1,\"chat, long\",1700000000000000,1500,,429,http_429,0\n\
             {a},3,1,\"chat, long\",1700000000000000,1500,,429,http_429,0\n"
        )
    );
    let o = export(&[dir.to_str().unwrap(), "--format", "csv", "--include-warmup"]);
    assert_eq!(text(&o.stdout).lines().count(), 4);
    let o = export(&[dir.to_str().unwrap(), "--format", "sql-values"]);
    assert_eq!(text(&o.stdout), format!("VALUES\n  ('{a}')\n"));

    std::fs::write(dir.join("results.jsonl"), format!("{good}{{\"stage\": 1, \"conv_uuid\n")).unwrap();
    let o = export(&[dir.to_str().unwrap(), "--format", "csv"]);
    assert_eq!(o.status.code(), Some(2), "a bad input line is bad input");
    let err = text(&o.stderr);
    let want = format!("{}:4: ", dir.join("results.jsonl").display());
    assert!(err.contains(&want), "{err:?} should name {want:?}");

    let o = export(&[dir.join("nope").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The newest `/usr/lib/postgresql/<version>/bin` with the server binaries, or a failure
/// that says how to install them.
fn pg_bin() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.split('.').next()?.parse().ok()?;
            let bin = e.path().join("bin");
            ["initdb", "pg_ctl", "postgres", "pg_isready", "psql"]
                .iter()
                .all(|b| bin.join(b).is_file())
                .then_some((version, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "PostgreSQL server binaries (initdb, pg_ctl, postgres, pg_isready, psql) not found under \
             /usr/lib/postgresql/*/bin: run scripts/install-test-deps.sh (it installs postgresql)"
        ),
    }
}

fn is_root() -> bool {
    let o = Command::new("id").arg("-u").output().expect("run id -u");
    text(&o.stdout).trim() == "0"
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A throwaway PostgreSQL cluster in a temp dir: a unix socket in that dir (trust, only
/// the dir's owner can reach it) and 127.0.0.1:port (password). As root, the server runs as
/// the `postgres` user. Stopped and removed on drop, also when the test fails.
struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    as_postgres: bool,
    port: u16,
    password: String,
}

impl Cluster {
    fn cmd(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    fn start() -> Cluster {
        let bin = pg_bin();
        let as_postgres = is_root();
        // Under /tmp: every user (the postgres user included) can reach it, and the socket
        // path stays well under the 107-byte limit.
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = PathBuf::from(format!("/tmp/llmload-pg-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let password = format!("pw-{:x}-{n}", std::process::id() as u64 * 0x9e37_79b9 + n as u64);
        let mut cluster = Cluster { bin, dir, as_postgres, port: 0, password };
        std::fs::write(cluster.dir.join("pwfile"), format!("{}\n", cluster.password)).unwrap();
        if as_postgres {
            let o = Command::new("chown").args(["-R", "postgres:"]).arg(&cluster.dir).output().unwrap();
            assert!(
                o.status.success(),
                "chown to the postgres user (run as root: is the postgresql package installed?): {}",
                text(&o.stderr)
            );
        }
        let o = run_limited(
            cluster
                .cmd("initdb")
                .arg("-D")
                .arg(cluster.data())
                .args(["-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"])
                .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
                .arg(format!("--pwfile={}", cluster.dir.join("pwfile").display())),
            Duration::from_secs(300),
        );
        assert!(o.status.success(), "initdb failed:\n{}\n{}", text(&o.stdout), text(&o.stderr));
        let _ = std::fs::remove_file(cluster.dir.join("pwfile"));
        // A free port can be taken between our probe and the server's bind: try a few.
        for attempt in 1..=5 {
            cluster.port = free_port();
            let opts = format!(
                "-k {} -h 127.0.0.1 -p {} -c fsync=off -c synchronous_commit=off -c max_connections=20 \
                 -c shared_buffers=16MB",
                cluster.dir.display(),
                cluster.port
            );
            let o = run_limited(
                cluster
                    .cmd("pg_ctl")
                    .arg("-D")
                    .arg(cluster.data())
                    .arg("-l")
                    .arg(cluster.dir.join("server.log"))
                    .args(["-o", &opts, "-W", "start"]),
                Duration::from_secs(120),
            );
            assert!(o.status.success(), "pg_ctl start:\n{}\n{}", text(&o.stderr), cluster.log());
            if cluster.wait_ready(Duration::from_secs(180)) {
                return cluster;
            }
            let log = cluster.log();
            if attempt < 5 && log.contains("could not bind") {
                continue;
            }
            panic!("PostgreSQL did not become ready (attempt {attempt}); server log:\n{log}");
        }
        unreachable!()
    }

    /// Polls pg_isready on the socket until it answers, the server dies, or `limit`.
    fn wait_ready(&self, limit: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < limit {
            let o = run_limited(
                Command::new(self.bin.join("pg_isready")).arg("-h").arg(&self.dir).args([
                    "-p",
                    &self.port.to_string(),
                    "-t",
                    "5",
                ]),
                Duration::from_secs(30),
            );
            if o.status.success() {
                return true;
            }
            // pg_ctl status: 3 = not running. Given up only once the server said why (e.g. the
            // port was taken) or after a long grace for a slow start on a busy machine.
            let status = self.cmd("pg_ctl").arg("status").arg("-D").arg(self.data()).output();
            let dead = status.is_ok_and(|s| s.status.code() == Some(3));
            let why = self.log().contains("FATAL") || self.log().contains("could not bind");
            if dead && (why || started.elapsed() > Duration::from_secs(60)) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        false
    }

    /// psql over the unix socket as the superuser; panics on an SQL error.
    fn psql(&self, sql: &str) -> String {
        let o = run_limited(
            Command::new(self.bin.join("psql"))
                .arg("-h")
                .arg(&self.dir)
                .args(["-p", &self.port.to_string(), "-U", "postgres", "-d", "postgres"])
                .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql]),
            Duration::from_secs(120),
        );
        assert!(o.status.success(), "psql failed: {}\nSQL: {sql}", text(&o.stderr));
        text(&o.stdout)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.port != 0 {
            let stopped = self
                .cmd("pg_ctl")
                .arg("stop")
                .arg("-D")
                .arg(self.data())
                .args(["-m", "immediate", "-w", "-t", "60"])
                .output()
                .is_ok_and(|o| o.status.success());
            if !stopped {
                // The postmaster we started, by the pid it recorded.
                if let Some(pid) = std::fs::read_to_string(self.data().join("postmaster.pid"))
                    .ok()
                    .and_then(|s| s.lines().next().and_then(|l| l.trim().parse::<u32>().ok()))
                {
                    let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One line of results.jsonl, the fields the test plants from.
struct Turn {
    uuid: String,
    turn: u64,
    stage: u64,
    intended_start: u64,
    latency_us: u64,
    completion_tokens: u64,
    warmup: bool,
}

fn read_results(dir: &Path) -> Vec<Turn> {
    let text = std::fs::read_to_string(dir.join("results.jsonl")).expect("results.jsonl");
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a results line");
            let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {l}"));
            Turn {
                uuid: v["conv_uuid"].as_str().unwrap().to_string(),
                turn: n("turn"),
                stage: n("stage"),
                intended_start: n("intended_start"),
                latency_us: n("latency_us"),
                completion_tokens: n("completion_tokens"),
                warmup: v["warmup"].as_bool().unwrap(),
            }
        })
        .collect()
}

/// The sections of join.sh's JOIN_OUTPUT=csv output: `== name` then a CSV table.
fn sections(out: &str) -> Vec<(String, Vec<Vec<String>>)> {
    let mut s: Vec<(String, Vec<Vec<String>>)> = Vec::new();
    for line in out.lines() {
        if let Some(name) = line.strip_prefix("== ") {
            s.push((name.to_string(), Vec::new()));
        } else if let Some((_, rows)) = s.last_mut() {
            rows.push(line.split(',').map(str::to_string).collect());
        } else {
            panic!("output before the first section: {line:?}");
        }
    }
    s
}

fn table<'a>(s: &'a [(String, Vec<Vec<String>>)], name: &str) -> &'a [Vec<String>] {
    &s.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no section {name:?} in {s:?}")).1
}

fn col(rows: &[Vec<String>], row: &[String], name: &str) -> String {
    let i = rows[0].iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}"));
    row[i].clone()
}

#[test]
fn join_sh_matches_a_planted_gateway_log_in_postgresql() {
    let bin = pg_bin(); // fails first, and clearly, without PostgreSQL
                        // 4 users: one for each of the quickstart's 4 scenarios (fewer leave some without a user).
    let run = run_llmload(&["--stages", "4:2s", "--cores", "1"], Duration::from_secs(120));
    assert_eq!(run.code, 0, "llmload run failed:\n{}\n{}", run.stdout, run.stderr);
    let turns = read_results(&run.dir);
    let measured: Vec<&Turn> = turns.iter().filter(|t| !t.warmup).collect();

    // Measured conversations in order of first appearance; every MISSING_EVERY-th one,
    // starting with the second, is not in the gateway log.
    let mut order: Vec<&str> = Vec::new();
    for t in &measured {
        if !order.contains(&t.uuid.as_str()) {
            order.push(&t.uuid);
        }
    }
    let missing: HashSet<&str> =
        order.iter().enumerate().filter(|(i, _)| i % MISSING_EVERY == 1).map(|(_, u)| *u).collect();
    let expect_joined = measured.iter().filter(|t| !missing.contains(t.uuid.as_str())).count();
    let expect_missing = measured.len() - expect_joined;
    assert!(expect_joined >= 2 && expect_missing >= 1, "too small a run: {} measured turns", measured.len());

    let cluster = Cluster::start();
    // The gateway logs every request it saw, warmup included, with its own column names.
    let mut rows = Vec::new();
    for t in turns.iter().filter(|t| !missing.contains(t.uuid.as_str())) {
        let server_ms = t.latency_us as f64 / 1000.0 - OFFSET_MS;
        let cache = if t.turn == 1 { "miss" } else { "hit" };
        rows.push(format!(
            "('{}', to_timestamp({:.6}), {server_ms:.3}, {:.3}, {}, '{cache}')",
            t.uuid.to_uppercase(),
            (t.intended_start + 500) as f64 / 1e6,
            server_ms * 0.8,
            t.completion_tokens
        ));
    }
    let first = turns.iter().map(|t| t.intended_start).min().unwrap();
    let logged = order.iter().find(|u| !missing.contains(**u)).unwrap();
    // Decoys: a logged conversation's id a day before the run (outside the window: were it
    // counted, every turn of that conversation would shift by one), and ids of no one.
    rows.push(format!(
        "('{logged}', to_timestamp({:.6}), 1.0, 1.0, 1, 'decoy')",
        (first as f64 / 1e6) - 86_400.0
    ));
    rows.push(format!(
        "('00000000-0000-4000-8000-000000000000', to_timestamp({:.6}), 1.0, 1.0, 1, 'decoy')",
        first as f64 / 1e6 + 0.5
    ));
    cluster.psql(&format!(
        "CREATE TABLE gw_log (req_id uuid, arrived timestamptz, duration_ms numeric, upstream numeric, \
         out_tokens int, cache_state text); INSERT INTO gw_log VALUES {};",
        rows.join(",\n")
    ));
    assert_eq!(cluster.psql("SELECT count(*) FROM gw_log").trim(), rows.len().to_string());

    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let url = format!("postgresql://postgres:{}@127.0.0.1:{}/postgres", cluster.password, cluster.port);
    let mut cmd = Command::new("bash");
    cmd.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/join.sh")).arg(&run.dir);
    for var in ["PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD", "PGSERVICE", "PGSERVICEFILE"] {
        cmd.env_remove(var);
    }
    cmd.env("PATH", path)
        .env("PGPASSFILE", "/dev/null")
        .env("DATABASE_URL", &url)
        .env("LLMLOAD_BIN", BIN)
        .env("JOIN_TABLE", "gw_log")
        .env("JOIN_ID_COL", "req_id")
        .env("JOIN_TIME_COL", "arrived")
        .env("JOIN_LATENCY_COL", "duration_ms")
        .env("JOIN_UPSTREAM_COL", "upstream")
        .env("JOIN_TOKENS_COL", "out_tokens")
        .env("JOIN_CACHE_COL", "cache_state")
        .env("JOIN_OUTPUT", "csv")
        .env("JOIN_ROWS", "0");
    let o = run_limited(&mut cmd, Duration::from_secs(180));
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert!(
        o.status.success(),
        "join.sh failed:\nstdout:\n{out}\nstderr:\n{err}\nserver log:\n{}",
        cluster.log()
    );
    assert!(
        !out.contains(&cluster.password) && !err.contains(&cluster.password),
        "the password appears in join.sh's output"
    );
    let s = sections(&out);

    let joined = table(&s, "joined turns");
    assert_eq!(joined.len() - 1, expect_joined, "joined rows:\n{out}");
    for row in &joined[1..] {
        let uuid = col(joined, row, "conv_uuid");
        assert!(!missing.contains(uuid.as_str()), "{uuid} is not in the gateway log");
        assert_eq!(col(joined, row, "delta_ms"), format!("{OFFSET_MS:.3}"), "{row:?}");
        let turn: u64 = col(joined, row, "turn").parse().unwrap();
        let t = measured.iter().find(|t| t.uuid == uuid && t.turn == turn).expect("a measured turn");
        assert_eq!(col(joined, row, "client_ms"), format!("{:.3}", t.latency_us as f64 / 1000.0));
        assert_eq!(col(joined, row, "server_tokens"), t.completion_tokens.to_string());
        assert_eq!(col(joined, row, "cache"), if turn == 1 { "miss" } else { "hit" });
    }

    let stages = table(&s, "per stage");
    let stage_ids: HashSet<u64> = measured.iter().map(|t| t.stage).collect();
    assert_eq!(stages.len() - 1, stage_ids.len() + 1, "one row per stage and ALL:\n{out}");
    let all = stages.iter().find(|r| r[0] == "ALL").expect("an ALL row");
    assert_eq!(col(stages, all, "client_turns"), measured.len().to_string());
    assert_eq!(col(stages, all, "joined"), expect_joined.to_string());
    assert_eq!(col(stages, all, "missing"), expect_missing.to_string());
    for row in &stages[1..] {
        assert_eq!(col(stages, row, "delta_p50_ms"), format!("{OFFSET_MS:.3}"), "{row:?}");
        assert_eq!(col(stages, row, "delta_p95_ms"), format!("{OFFSET_MS:.3}"), "{row:?}");
    }
    let cache = table(&s, "by cache status");
    let cached: usize = cache[1..].iter().map(|r| col(cache, r, "joined").parse::<usize>().unwrap()).sum();
    assert_eq!(cached, expect_joined);
    assert!(cache[1..].iter().all(|r| r[0] != "decoy"), "a decoy row was joined:\n{out}");
    drop(cluster);
}
